package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to LoadBytes in every format: it must not
// panic, and it must return either a valid Config or an *Error that lists at
// least one problem, one per line.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	f.Add(mustRead(f, "../testdata/site.yaml"))
	f.Add(mustRead(f, "../testdata/site.json"))
	f.Add(mustRead(f, "../testdata/site.toml"))
	env := []string{"RIVULET_BATCH_LINGER=1s", "RIVULET_WAL_BOGUS=x"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{"yaml", "json", "toml"} {
			c, err := LoadBytes(data, format, env)
			if err == nil {
				if c == nil || c.Validate() != nil {
					t.Fatalf("%s: loaded config does not validate: %v", format, c.Validate())
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("%s: error %T %v is not a non-empty *Error", format, err, err)
			}
			if n := strings.Count(e.Error(), "\n") + 1; n != len(e.Problems) {
				t.Fatalf("%s: %d problems on %d lines:\n%v", format, len(e.Problems), n, err)
			}
		}
	})
}
