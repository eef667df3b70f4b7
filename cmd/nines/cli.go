package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/alecthomas/kong"

	"github.com/ninesid/nines/internal/app"
	"github.com/ninesid/nines/internal/apply"
	"github.com/ninesid/nines/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the command ran and failed
	exitUsage   = 2 // bad command line or configuration; nothing was started
)

// cli is the command-line grammar.
type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the server."`
	Migrate migrateCmd `cmd:"" help:"Apply pending database migrations and exit."`
	Apply   applyCmd   `cmd:"" help:"Apply a declarative YAML file to a running server through the admin API. The admin API token is read from $$NINES_ADMIN_TOKEN."`
	Ctl     ctlCmd     `cmd:"" help:"Operate a running deployment through the admin API (read-only mode). The admin API token is read from $$NINES_ADMIN_TOKEN."`
	Lab     labCmd     `cmd:"" help:"Run the whole production topology on this machine, break it and score it (see README \"Reliability\")."`
	Version versionCmd `cmd:"" help:"Print the version, commit and Go version."`
}

// streams are where a command writes.
type streams struct{ stdout, stderr io.Writer }

type serveCmd struct {
	config.Config `embed:""`
	Role          string `name:"role" env:"NINES_ROLE" default:"all" help:"What this process does: all (everything in one process), admin, login, worker, nats (one member of a NATS JetStream cluster), edge (the public entry point: routing, health checks, traffic control)."`
}

// Validate checks --role together with the configuration, so that every problem is
// reported at once. (kong calls it, then Config.Validate again, which is idempotent.)
func (c *serveCmd) Validate() error {
	var ps config.Problems
	c.Config.ReplicaOnly = app.Role(c.Role) == app.RoleLogin
	c.Config.NATSNode = app.Role(c.Role) == app.RoleNATS
	c.Config.Edge = app.Role(c.Role) == app.RoleEdge
	if err := c.Config.Validate(); err != nil && !errors.As(err, &ps) {
		return err
	}
	if !slices.Contains(app.Roles, app.Role(c.Role)) {
		ps = append(ps, config.Problem{Setting: "NINES_ROLE", Detail: fmt.Sprintf("%q is not a role (all, login, admin, worker, nats, edge)", c.Role)})
	}
	return ps.Err()
}

func (c *serveCmd) Run(ctx context.Context, s streams) error {
	return app.Run(ctx, app.Options{Config: c.Config, Role: app.Role(c.Role), Log: s.stdout, Console: s.stderr})
}

type migrateCmd struct {
	config.Config `embed:""`
}

func (c *migrateCmd) Run(ctx context.Context, s streams) error {
	return app.Migrate(ctx, c.Config, s.stdout)
}

type applyCmd struct {
	File        string `short:"f" name:"file" required:"" help:"The YAML file to apply."`
	Server      string `name:"server" env:"NINES_SERVER" default:"http://127.0.0.1:8080" help:"Base URL of the nines server."`
	DryRun      bool   `name:"dry-run" help:"Print what would change; change nothing."`
	SecretsFile string `name:"secrets-file" help:"Append generated client secrets to this file (0600) instead of printing them."`
}

// Run takes the token from NINES_ADMIN_TOKEN only: a flag would show it in ps and in
// shell history.
func (c *applyCmd) Run(ctx context.Context, s streams) error {
	return apply.Run(ctx, apply.Options{
		File:        c.File,
		Server:      c.Server,
		Token:       os.Getenv("NINES_ADMIN_TOKEN"),
		DryRun:      c.DryRun,
		SecretsFile: c.SecretsFile,
	}, s.stdout, s.stderr)
}

type versionCmd struct{}

func (versionCmd) Run(s streams) error {
	_, err := fmt.Fprintln(s.stdout, versionLine())
	return err
}

func newParser(c *cli, s streams, exit func(int)) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("nines"),
		kong.Description("nines — a multi-tenant identity provider (OIDC, SAML, SCIM). Every flag can also be set by the NINES_ environment variable shown with it."),
		kong.Writers(s.stdout, s.stderr),
		kong.Exit(exit),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
}

// run parses args and runs the command, returning the process exit code. Errors are
// printed to stderr, plainly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	s := streams{stdout: stdout, stderr: stderr}
	var c cli
	exited := -1
	parser, err := newParser(&c, s, func(code int) { exited = code })
	if err != nil {
		fmt.Fprintf(stderr, "nines: %v\n", err)
		return exitRuntime
	}
	kctx, err := parser.Parse(args)
	if exited >= 0 { // --help
		return exited
	}
	if err != nil {
		fmt.Fprintf(stderr, "nines: %v\n", err)
		var problems config.Problems
		if !errors.As(err, &problems) {
			fmt.Fprintln(stderr, "Run 'nines --help' for usage.")
		}
		return exitUsage
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(s); err != nil {
		fmt.Fprintf(stderr, "nines: %v\n", err)
		if errors.Is(err, app.ErrUsage) || errors.As(err, new(ctlUsageError)) {
			return exitUsage
		}
		return exitRuntime
	}
	return exitOK
}
