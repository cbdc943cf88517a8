package config

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

const envPrefix = "RIVULET_"

// envValue is a value taken from the environment, kept apart from file values
// because it is always a string that must be parsed for the key's type.
type envValue struct {
	name, value string
}

// envKeys describes the environment variables of a Config.
type envKeys struct {
	scalars  map[string]string // variable → key path it sets
	lists    map[string]string // variable → key path of a list or map (file-only)
	sections []string          // variables of the top-level keys, e.g. RIVULET_WAL
}

// envTable is derived once from the Config type, so a key added to any
// section's Config is settable from the environment without a change here.
var envTable = sync.OnceValue(func() envKeys {
	k := envKeys{scalars: map[string]string{}, lists: map[string]string{}}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if name := keyName(t.Field(i)); name != "" {
			k.sections = append(k.sections, envName(name))
		}
	}
	k.collect(t, "")
	return k
})

func (k envKeys) collect(t reflect.Type, prefix string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := keyName(f)
		if name == "" {
			continue
		}
		path := joinPath(prefix, name)
		switch {
		case isScalar(f.Type):
			k.scalars[envName(path)] = path
		case f.Type.Kind() == reflect.Struct:
			k.collect(f.Type, path)
		default:
			k.lists[envName(path)] = path
		}
	}
}

// envName returns the variable for a key path: wal.max_size → RIVULET_WAL_MAX_SIZE.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envVars returns the environment variables that Load reads, sorted.
func envVars() []string {
	return slices.Sorted(maps.Keys(envTable().scalars))
}

// unknown explains why name, a RIVULET_ variable that sets no key, is a
// mistake; ok is false for variables outside every section, which may belong
// to someone else.
func (k envKeys) unknown(name string) (msg string, ok bool) {
	for v, path := range k.lists {
		if startsWord(name, v) {
			return path + " is a list and can only be set in the config file", true
		}
	}
	for _, v := range k.sections {
		if startsWord(name, v) {
			return "does not name a config key", true
		}
	}
	return "", false
}

// startsWord reports whether name is prefix or starts with prefix + "_".
func startsWord(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && (rest == "" || rest[0] == '_')
}

// applyEnv sets the keys named by RIVULET_* variables in env into the parsed
// tree. When a variable appears twice the last one wins, as with exec.Cmd.
func (d *decoder) applyEnv(tree map[string]any, env []string) {
	vars := map[string]string{}
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = value
		}
	}
	keys := envTable()
	for name, value := range vars {
		if value == "" {
			continue
		}
		if path, ok := keys.scalars[name]; ok {
			if setPath(tree, path, envValue{name, value}) {
				d.fromEnv[path] = name
			}
		} else if msg, ok := keys.unknown(name); ok {
			d.add(printableName(name), msg)
		}
	}
}

// setPath stores v at the dotted key path in tree, creating the mappings on
// the way. It gives up where the file holds a non-mapping; the decoder
// reports that.
func setPath(tree map[string]any, path string, v any) bool {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := tree[k].(map[string]any)
		if !ok {
			if tree[k] != nil {
				return false
			}
			next = map[string]any{}
			tree[k] = next
		}
		tree = next
	}
	tree[keys[len(keys)-1]] = v
	return true
}

// printableName quotes a variable name that holds control characters (a
// newline would split its problem over two lines of the report).
func printableName(name string) string {
	if strings.ContainsFunc(name, unicode.IsControl) {
		return strconv.Quote(name)
	}
	return name
}
