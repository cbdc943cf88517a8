package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoadEnv sets one arbitrary RIVULET_ variable over a valid config: the
// environment parsers (durations, sizes, numbers, booleans, enums) must not
// panic, and LoadBytes must return a Config that validates or a non-empty
// *Error, one problem per line.
func FuzzLoadEnv(f *testing.F) {
	for _, kv := range [][2]string{
		{"BATCH_LINGER", "1s"}, {"BATCH_MAX_BYTES", "4MiB"}, {"WAL_SEGMENT_SIZE", "99999999999999999999GiB"},
		{"WAL_DURABILITY", "write"}, {"LOG_LEVEL", "debug"}, {"BATCH_MAX_POINTS", "-1"},
		{"CHECKPOINT_INTERVAL", "-5m"}, {"WAL", "x"}, {"SOURCES_MQTT", "[]"}, {"HTTP_LISTEN", ""},
		{"EMBEDDED_BROKER_ENABLED", "yes"}, {"BATCH_LINGER", "1e400h"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		env := []string{envPrefix + name + "=" + value}
		c, err := LoadBytes([]byte(base), "yaml", env)
		if err == nil {
			if c == nil || c.Validate() != nil {
				t.Fatalf("%s=%q: loaded config does not validate: %v", name, value, c.Validate())
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) == 0 {
			t.Fatalf("%s=%q: error %T %v is not a non-empty *Error", name, value, err, err)
		}
		if n := strings.Count(e.Error(), "\n") + 1; n != len(e.Problems) {
			t.Fatalf("%s=%q: %d problems on %d lines:\n%v", name, value, len(e.Problems), n, err)
		}
	})
}
