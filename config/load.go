package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/spf13/viper"
)

// Load reads the config file at path, its format chosen by the extension
// (.yaml, .yml, .toml, .json), applies the process environment and checks the
// result. A file that cannot be read is a plain error; everything wrong with
// its content or the environment comes back as one *Error with File set.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	base := filepath.Dir(path)
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	c, err := loadBytes(data, filepath.Ext(path), os.Environ(), base)
	var e *Error
	switch {
	case errors.As(err, &e):
		e.File = path
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, err
}

// LoadBytes is Load for a config held in memory: format is yaml, yml, toml or
// json (a leading dot is allowed) and env is in os.Environ form; pass nil to
// ignore the environment. An unknown format is a plain error; every problem
// with data or env comes back as one *Error.
func LoadBytes(data []byte, format string, env []string) (*Config, error) {
	return loadBytes(data, format, env, workingDir())
}

// loadBytes is LoadBytes with relative secret file paths resolved against
// base (see resolveSecretFiles).
func loadBytes(data []byte, format string, env []string, base string) (*Config, error) {
	format = strings.ToLower(strings.TrimPrefix(format, "."))
	switch format {
	case "yaml", "yml", "toml", "json":
	default:
		return nil, fmt.Errorf("unsupported config format %q (want yaml, yml, toml or json)", format)
	}
	raw, err := parse(data, format)
	if err != nil {
		var ps problems
		ps.add("", "syntax error: "+syntaxMessage(data, err))
		return nil, ps.err("")
	}
	d := decoder{fromEnv: map[string]string{}}
	d.applyEnv(raw, env)
	c := Default()
	d.value("", raw, reflect.ValueOf(&c).Elem())
	d.resolveDataDir(&c)
	resolveSecretFiles(&c, env, base)
	if err := d.finish(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// parse turns data into a tree of map[string]any, []any and scalars with
// viper's codec for format. Maps come back with their keys' case intact,
// which viper's own reader would lose.
func parse(data []byte, format string) (tree map[string]any, err error) {
	codec, err := viper.NewCodecRegistry().Decoder(format)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A parser bug must not take the agent down on a bad file.
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	m := map[string]any{}
	if err := codec.Decode(data, m); err != nil {
		return nil, err
	}
	return normalize(m).(map[string]any), nil
}

// normalize copies a parsed tree so that every map is a map[string]any and
// every list a []any. The copy also unshares YAML aliases, so that setting a
// key from the environment changes one place only.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = normalize(it.Value().Interface())
		}
		return m
	case reflect.Slice:
		if _, ok := v.([]byte); ok {
			return v
		}
		l := make([]any, rv.Len())
		for i := range l {
			l[i] = normalize(rv.Index(i).Interface())
		}
		return l
	}
	return v
}

// syntaxMessage adds the line and column to parser errors that carry only an
// offset or a position.
func syntaxMessage(data []byte, err error) string {
	var pos interface{ Position() (row, column int) } // go-toml
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &pos):
		row, col := pos.Position()
		return fmt.Sprintf("line %d, column %d: %v", row, col, err)
	case errors.As(err, &syn):
		return lineOf(data, syn.Offset) + err.Error()
	case errors.As(err, &typ):
		return lineOf(data, typ.Offset) + err.Error()
	}
	return err.Error()
}

func lineOf(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	return fmt.Sprintf("line %d: ", 1+bytes.Count(data[:offset], []byte("\n")))
}

// resolveDataDir makes a relative data_dir absolute against the working
// directory, so that what the agent sees does not depend on a later chdir.
func (d *decoder) resolveDataDir(c *Config) {
	if c.DataDir == "" || filepath.IsAbs(c.DataDir) {
		return
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		d.add("data_dir", fmt.Sprintf("cannot resolve relative path %q: %v", c.DataDir, err))
		return
	}
	c.DataDir = abs
}

// finish adds the problems of c.Validate, except those at or below a key that
// already failed to decode (its value is still the default and would only
// repeat the complaint), names the environment variable behind a problem and
// returns them all as an *Error, or nil.
func (d *decoder) finish(c *Config) error {
	failed := make([]string, len(d.problems))
	for i, p := range d.problems {
		failed[i] = p.Path
	}
	for _, p := range c.problems() {
		if !anyWithin(p.Path, failed) {
			d.problems = append(d.problems, p)
		}
	}
	for i, p := range d.problems {
		if name, ok := d.fromEnv[p.Path]; ok {
			d.problems[i].Msg += " (from " + name + ")"
		}
	}
	return d.problems.err("")
}

func anyWithin(path string, bases []string) bool {
	for _, b := range bases {
		if within(path, b) {
			return true
		}
	}
	return false
}
