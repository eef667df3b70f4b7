package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// executor is what changes need while they run.
type executor struct {
	api     *api
	file    string
	secrets secretSink
	// pending is the client secret the change that just ran received; execute hands it
	// to secrets right after printing that change's line.
	pending *secretLine
}

// wrap turns a failed write into an error that names the file and the YAML path; the
// server's field problems are mapped onto the path of the entity they are about.
func (x *executor) wrap(path string, err error) error {
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) && len(ae.Problem.Errors) > 0 {
		fe := &FileError{File: x.file}
		for _, e := range ae.Problem.Errors {
			fe.Problems = append(fe.Problems, Problem{Path: join(path, e.Field),
				Detail: e.Detail + " (the server refused " + ae.Method + " " + ae.Path + ", HTTP " + strconv.Itoa(ae.Status) + requestID(ae) + ")"})
		}
		return fe
	}
	return fmt.Errorf("%s: %s: %w", x.file, path, err)
}

func requestID(ae *apiError) string {
	if ae.Problem.RequestID == "" {
		return ""
	}
	return ", request_id " + ae.Problem.RequestID
}

// execute runs the plan's changes in order, printing each one after it succeeded.
func (x *executor) execute(ctx context.Context, p *plan, stdout io.Writer) error {
	var created, updated, deleted int
	for _, c := range p.changes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("apply: stopped before %q (the changes printed before it were made): %w", c.line, err)
		}
		x.pending = nil
		if err := c.run(ctx, x); err != nil {
			return fmt.Errorf("apply: stopped at %q (the changes printed before it were made): %w", c.line, err)
		}
		_, werr := io.WriteString(stdout, c.line+"\n")
		// A generated secret exists nowhere else: hand it over even when the change
		// line could not be written.
		if s := x.pending; s != nil {
			x.pending = nil
			if err := x.secrets.put(s.Tenant, s.ClientID, s.ClientSecret); err != nil {
				return errors.Join(werr, fmt.Errorf("apply: %w", err))
			}
		}
		if werr != nil {
			return werr
		}
		switch c.kind {
		case create:
			created++
		case update:
			updated++
		case remove:
			deleted++
		}
	}
	_, err := io.WriteString(stdout, summary(created, updated, deleted, false)+"\n")
	return err
}
