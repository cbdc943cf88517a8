package config

import (
	"cmp"
	"slices"
	"strings"
)

// Problem is one mistake in a config.
type Problem struct {
	// Path is the full key path, e.g. "sources.mqtt[0].topics[1].qos"; the
	// name of an environment variable for a variable that names no key; empty
	// for the document as a whole (a syntax error).
	Path string
	Msg  string
}

// String returns "path: msg", or msg alone when Path is empty.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Error lists every problem found in a config, sorted by path.
type Error struct {
	// File is the path given to Load; empty from LoadBytes and Validate.
	File     string
	Problems []Problem
}

// Error returns one "path: msg" line per problem. File is left out so that
// the caller (rivulet validate, a startup log) can head the list with it.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a config is decoded and checked.
type problems []Problem

// add records a problem. A message is kept to one line, so that Error has
// exactly one line per problem; parser errors can span several.
func (ps *problems) add(path, msg string) {
	lines := strings.Split(msg, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	*ps = append(*ps, Problem{Path: path, Msg: strings.Join(lines, " ")})
}

// addErr adds the errors that a package's Validate joined, each message
// starting with a key path relative to prefix.
func (ps *problems) addErr(prefix string, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps.addErr(prefix, e)
		}
		return
	}
	rel, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(rel, " \"'") {
		ps.add(prefix, err.Error())
		return
	}
	ps.add(joinPath(prefix, rel), msg)
}

// err returns the problems as a sorted *Error, or nil if there are none.
func (ps problems) err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b Problem) int {
		return cmp.Or(comparePaths(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	return &Error{File: file, Problems: sorted}
}

// joinPath appends the relative key path rel to prefix.
func joinPath(prefix, rel string) string {
	switch {
	case prefix == "":
		return rel
	case rel == "" || rel[0] == '[':
		return prefix + rel
	}
	return prefix + "." + rel
}

// within reports whether path is base or lies below it.
func within(path, base string) bool {
	rest, ok := strings.CutPrefix(path, base)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// comparePaths orders key paths with list indexes in numeric order, so that
// pipeline[2] comes before pipeline[10].
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits returns the length of the run of ASCII digits that starts s.
func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
