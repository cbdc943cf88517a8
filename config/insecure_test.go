package config

import (
	"errors"
	"testing"
)

// TestInsecureNeedsAllow loads a site config whose source sets
// insecure_skip_verify: alone it is one problem at that key's path; with
// allow_insecure: true beside it the config loads.
func TestInsecureNeedsAllow(t *testing.T) {
	tests := []struct {
		name, tls string
		problem   string // key path of the one problem; empty for valid
	}{
		{"alone", "{insecure_skip_verify: true}", "sources.mqtt[0].tls.insecure_skip_verify"},
		{"with consent", "{insecure_skip_verify: true, allow_insecure: true}", ""},
		{"consent set to false", "{allow_insecure: false, insecure_skip_verify: true}", "sources.mqtt[0].tls.insecure_skip_verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := edit(t, "broker: tcp://127.0.0.1:1883", "broker: ssl://127.0.0.1:8883\n      tls: "+tc.tls)
			_, err := LoadBytes([]byte(data), "yaml", nil)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("LoadBytes: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) != 1 || e.Problems[0].Path != tc.problem {
				t.Fatalf("LoadBytes = %v, want one problem at %s", err, tc.problem)
			}
		})
	}
}
