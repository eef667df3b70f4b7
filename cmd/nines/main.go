// Command nines is the nines identity provider: one binary whose subcommands serve a
// role (serve), migrate the database (migrate), apply a declarative file to a running
// server (apply) and print the build (version).
//
// main only sets up the signal context, parses the command line and dispatches; the
// work lives in internal/app, internal/config and internal/apply. It must never grow
// wiring or business logic of its own.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second one kills at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
