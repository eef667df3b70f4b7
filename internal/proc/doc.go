// Package proc runs programs — above all the nines binary — as child processes for
// tests and for the local topology (`nines lab`): start one with a given environment and
// arguments, capture its combined output in a bounded buffer, wait (bounded) for its
// readiness URL to answer 200, kill it (SIGKILL), stop it (SIGTERM, then SIGKILL after a
// bounded wait), restart it with the same configuration, and build a Go main package
// once (Builder).
//
// Rules the package keeps:
//   - it never leaves a process behind: every child runs in its own process group,
//     which Kill and Close kill as a whole, and on Linux it gets SIGKILL when the parent
//     dies (Pdeathsig; the thread that forked it stays alive while it runs, since the
//     signal follows the thread, not the process);
//   - every wait is bounded (readiness, stop, the end of the output copy), and every
//     error carries the tail of the child's output;
//   - it takes addresses, directories and the environment from the caller and picks
//     none itself: a child's environment is exactly Config.Env (nothing is inherited
//     unless the caller passes it).
//
// It must never be used on anything but the caller's own children, and it never
// signals a process by name.
package proc
