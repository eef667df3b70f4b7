package apply

import (
	"fmt"
	"strings"

	"github.com/ninesid/nines/internal/field"
)

// Problem is one thing wrong with the file, at a YAML path such as
// tenants[0].users[2].email (empty for the file as a whole).
type Problem struct {
	Path   string
	Detail string
}

// FileError is every problem found in one apply file. It is returned before any write
// when the file is invalid, or when it contradicts the server (a changed application
// type, a group member that exists nowhere).
type FileError struct {
	File     string
	Problems []Problem
}

func (e *FileError) Error() string {
	line := func(p Problem) string {
		if p.Path == "" {
			return p.Detail
		}
		return p.Path + ": " + p.Detail
	}
	if len(e.Problems) == 1 {
		return e.File + ": " + line(e.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + line(p))
	}
	return b.String()
}

// problems collects Problems while a check runs.
type problems []Problem

func (ps *problems) add(path, detail string) { *ps = append(*ps, Problem{Path: path, Detail: detail}) }

// addFields adds the domain package's field errors under the YAML path prefix.
func (ps *problems) addFields(prefix string, es field.Errors) {
	for _, e := range es {
		ps.add(join(prefix, e.Field), e.Detail)
	}
}

func (ps problems) err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	return &FileError{File: file, Problems: ps}
}

// join appends a key to a YAML path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a YAML path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
