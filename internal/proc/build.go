package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
)

// Builder builds a Go main package once, on the first Build, and hands every later
// caller the same binary (or the same error): one `go build` per test binary, shared by
// its tests. Remove deletes the binary (call it from TestMain after m.Run).
type Builder struct {
	// Package is what to build: an import path ("github.com/ninesid/nines/cmd/nines")
	// or a directory relative to Dir ("./cmd/nines").
	Package string
	// Dir is where go build runs ("": the caller's working directory, which must be
	// inside the module).
	Dir string
	// Flags are extra go build flags, e.g. "-race" or "-ldflags=-X main.version=lab".
	Flags []string
	// Env is go build's environment (nil: the caller's).
	Env []string

	once sync.Once
	dir  string // the temporary directory holding the binary
	bin  string
	err  error
}

// BuildError is a failed go build, with its output.
type BuildError struct {
	Package string
	Output  string
	Err     error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("go build %s: %v\n%s", e.Package, e.Err, e.Output)
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build runs go build -o into a new temporary directory the first time it is called
// and returns the binary's path; ctx bounds that first build only.
func (b *Builder) Build(ctx context.Context) (string, error) {
	b.once.Do(func() { b.bin, b.err = b.build(ctx) })
	return b.bin, b.err
}

func (b *Builder) build(ctx context.Context) (string, error) {
	if b.Package == "" {
		return "", errors.New("proc: Builder.Package is required")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("proc: the go command is not on PATH (go test puts it there): %w", err)
	}
	dir, err := os.MkdirTemp("", "proc-build-")
	if err != nil {
		return "", fmt.Errorf("proc: %w", err)
	}
	b.dir = dir
	name := path.Base(filepath.ToSlash(b.Package))
	if name == "." || name == ".." || name == "/" {
		name = "prog"
	}
	bin := filepath.Join(dir, name)
	args := append(append([]string{"build", "-o", bin}, b.Flags...), b.Package)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir, cmd.Env = b.Dir, b.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &BuildError{Package: b.Package, Output: string(out), Err: err}
	}
	return bin, nil
}

// Remove deletes the built binary and its directory. Nothing may run it afterwards.
func (b *Builder) Remove() error {
	b.once.Do(func() { b.err = errors.New("proc: Builder removed before it built") })
	if b.dir == "" {
		return nil
	}
	return os.RemoveAll(b.dir)
}
