package main

import (
	"context"
	"fmt"

	"github.com/ninesid/nines/internal/lab"
)

// labUpCmd is `nines lab up`: the supervisor in the foreground (Ctrl-C or SIGTERM stop
// the lab and remove its directory), or with --detach in the background.
type labUpCmd struct {
	File   string `short:"f" name:"file" required:"" type:"existingfile" help:"The lab file (see examples/lab/topology.yaml)."`
	Dir    string `name:"dir" help:"The lab directory (default: $$TMPDIR/nines-lab). A lab left there by a crash is cleaned first."`
	Detach bool   `name:"detach" help:"Run the supervisor in the background and return once the lab is ready; stop it with nines lab down."`
	// Supervisor marks the background supervisor that --detach starts in a directory it
	// prepared.
	Supervisor bool `name:"supervisor" hidden:""`
}

func (c *labUpCmd) Run(ctx context.Context, s streams) error {
	opts := lab.Options{Topology: c.File, Dir: c.Dir, Out: s.stdout}
	switch {
	case c.Supervisor:
		return lab.Run(ctx, opts, func(st lab.State) { lab.PrintSummary(s.stdout, st) })
	case c.Detach:
		st, err := lab.Detach(ctx, opts)
		if err != nil {
			return err
		}
		lab.PrintSummary(s.stdout, st)
		return nil
	default:
		return lab.Up(ctx, opts, func(st lab.State) {
			lab.PrintSummary(s.stdout, st)
			fmt.Fprintln(s.stdout, "lab: supervising; Ctrl-C (or nines lab down) stops everything and removes the directory")
		})
	}
}

// labDownCmd is `nines lab down`.
type labDownCmd struct {
	Dir string `name:"dir" help:"The lab directory (default: $$TMPDIR/nines-lab)."`
}

func (c *labDownCmd) Run(_ context.Context, s streams) error {
	dir := c.Dir
	if dir == "" {
		dir = lab.DefaultDir()
	}
	return lab.Down(dir, s.stdout)
}

// labStatusCmd is `nines lab status`.
type labStatusCmd struct {
	Dir string `name:"dir" help:"The lab directory (default: $$TMPDIR/nines-lab)."`
}

func (c *labStatusCmd) Run(_ context.Context, s streams) error {
	dir := c.Dir
	if dir == "" {
		dir = lab.DefaultDir()
	}
	st, err := lab.ReadState(dir)
	if err != nil {
		return err
	}
	lab.PrintSummary(s.stdout, st)
	return nil
}
