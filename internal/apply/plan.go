package apply

import (
	"context"
	"io"
	"slices"
	"strconv"
)

// kind is what a change does, for the summary.
type kind int

const (
	create kind = iota
	update
	remove
)

// change is one write the plan will make. run is called in plan order, so it may use
// IDs that earlier changes filled in (a new user's ID for a membership).
type change struct {
	kind    kind
	line    string   // "+ tenant acme"
	details []string // the field-level diff, printed by a dry run
	secret  bool     // the server may answer with a client secret
	run     func(ctx context.Context, x *executor) error
}

// plan is every change, in an order the server accepts: each tenant, then its users,
// groups with their members, applications.
type plan struct{ changes []change }

func (p *plan) add(c change) { p.changes = append(p.changes, c) }

func (p *plan) counts() (created, updated, deleted int) {
	for _, c := range p.changes {
		switch c.kind {
		case create:
			created++
		case update:
			updated++
		case remove:
			deleted++
		}
	}
	return
}

func (p *plan) createsApplication() bool {
	return slices.ContainsFunc(p.changes, func(c change) bool { return c.secret })
}

// summary is the last line of output.
func summary(created, updated, deleted int, dryRun bool) string {
	if created+updated+deleted == 0 {
		if dryRun {
			return "no changes (dry run)"
		}
		return "no changes"
	}
	if dryRun {
		return "dry run: would create " + strconv.Itoa(created) + ", update " + strconv.Itoa(updated) +
			", delete " + strconv.Itoa(deleted) + "; nothing was changed"
	}
	return strconv.Itoa(created) + " created, " + strconv.Itoa(updated) + " updated, " + strconv.Itoa(deleted) + " deleted"
}

// print writes the plan as a dry run shows it.
func (p *plan) print(w io.Writer) error {
	for _, c := range p.changes {
		if _, err := io.WriteString(w, c.line+"\n"); err != nil {
			return err
		}
		for _, d := range c.details {
			if _, err := io.WriteString(w, "    "+d+"\n"); err != nil {
				return err
			}
		}
	}
	c, u, d := p.counts()
	_, err := io.WriteString(w, summary(c, u, d, true)+"\n")
	return err
}
