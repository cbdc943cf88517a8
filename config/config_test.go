package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// base is a small valid config; the table's cases edit it.
const base = `site: test
data_dir: /tmp/rivulet
sources:
  mqtt:
    - name: sensors
      broker: tcp://127.0.0.1:1883
      client_id: c1
      topics:
        - {filter: a/+/temp, measurement: temp}
        - {filter: b/+/lp, format: influx}
batch: {max_points: 100, max_bytes: 64KiB, linger: 5ms}
wal: {segment_size: 64KiB, max_size: 1MiB}
pipeline:
  - {name: temp_1m, measurement: temp, to: [cloud, local]}
sinks:
  - {name: cloud, type: influx, url: "http://127.0.0.1:8086/write?db=edge"}
  - {name: local, type: file, path: /tmp/rivulet/out.lp}
`

// edit applies old → new replacements to base; each old must occur once.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("edit %q: found %d times in base", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// problemLines returns the "path: msg" lines of err, nil for a nil error.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, not *Error: %v", err, err)
	}
	if got := strings.Split(e.Error(), "\n"); len(got) != len(e.Problems) {
		t.Errorf("Error() has %d lines for %d problems", len(got), len(e.Problems))
	}
	var lines []string
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return lines
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		edits []string // old, new pairs applied to base
		yaml  string   // used instead of base when set
		env   []string
		want  []string
	}{
		{name: "base is valid"},
		{
			name:  "topic qos out of range",
			edits: []string{"format: influx}", "format: influx, qos: 3}"},
			want:  []string{"sources.mqtt[0].topics[1].qos: must be 0, 1 or 2, got 3"},
		},
		{
			name:  "unknown key",
			edits: []string{"{filter: b/+/lp", "{filtr: b/+/lp"},
			want: []string{
				"sources.mqtt[0].topics[1].filter: must be set",
				"sources.mqtt[0].topics[1].filtr: unknown key",
			},
		},
		{
			name:  "unknown top-level key and wrong case",
			edits: []string{"site: test", "Site: test\nsitee: x"},
			want:  []string{"Site: unknown key", "site: must be set", "sitee: unknown key"},
		},
		{
			name:  "number expected",
			edits: []string{"max_points: 100", "max_points: lots"},
			want:  []string{`batch.max_points: expected a number, got "lots"`},
		},
		{
			name:  "fraction for an integer",
			edits: []string{"max_points: 100", "max_points: 1.5"},
			want:  []string{"batch.max_points: expected a whole number, got 1.5"},
		},
		{
			name:  "bad duration",
			edits: []string{"linger: 5ms", "linger: 5 parsecs"},
			want:  []string{`batch.linger: expected a duration like "20ms", got "5 parsecs"`},
		},
		{
			name:  "duration without unit",
			edits: []string{"linger: 5ms", "linger: 5"},
			want:  []string{`batch.linger: expected a duration like "20ms", got 5`},
		},
		{
			name:  "bad size",
			edits: []string{"max_bytes: 64KiB", "max_bytes: lots"},
			want:  []string{`batch.max_bytes: invalid size "lots" (want e.g. 512KiB, 8MiB, 1GiB)`},
		},
		{
			name:  "size of the wrong type",
			edits: []string{"max_bytes: 64KiB", "max_bytes: true"},
			want:  []string{`batch.max_bytes: expected a size like "4MiB", got true`},
		},
		{
			name:  "plain integer size",
			edits: []string{"max_bytes: 64KiB", "max_bytes: 65536"},
		},
		{
			name:  "size too small",
			edits: []string{"max_bytes: 64KiB", "max_bytes: 512B"},
			want:  []string{"batch.max_bytes: must be at least 1KiB, got 512B"},
		},
		{
			name:  "unknown sink in to",
			edits: []string{"to: [cloud, local]", "to: [cloud, clod]"},
			want:  []string{`pipeline[0].to[1]: unknown sink "clod" (sinks: cloud, local)`},
		},
		{
			name:  "sink twice in to",
			edits: []string{"to: [cloud, local]", "to: [cloud, cloud]"},
			want:  []string{`pipeline[0].to[1]: duplicate sink "cloud"`},
		},
		{
			name:  "duplicate sink name",
			edits: []string{"{name: local, type: file", "{name: cloud, type: file"},
			want: []string{
				`pipeline[0].to[1]: unknown sink "local" (sinks: cloud)`,
				`sinks[1].name: duplicate sink name "cloud"`,
			},
		},
		{
			name: "duplicate step name",
			edits: []string{"to: [cloud, local]}",
				"to: [cloud, local]}\n  - {name: temp_1m, to: [local]}"},
			want: []string{`pipeline[1].name: duplicate step name "temp_1m"`},
		},
		{
			name:  "bad aggregate",
			edits: []string{"measurement: temp, to:", "measurement: temp, aggregates: [mean, average], to:"},
			want: []string{`pipeline[0].aggregates[1]: unknown aggregate "average" ` +
				"(known: count, sum, mean, min, max, first, last, spread, stddev, variance, " +
				"median, pNN (0<NN<100, e.g. p95, p99.9), percentile(NN), rate, integral, " +
				"distinct, distinct(tag), topk(k,tag))"},
		},
		{
			name:  "bad window type",
			edits: []string{"measurement: temp, to:", "measurement: temp, window: {type: sliding}, to:"},
			want:  []string{`pipeline[0].window.type: must be tumbling, hopping, session or count, got "sliding"`},
		},
		{
			name:  "list expected",
			edits: []string{"to: [cloud, local]", "to: cloud"},
			want:  []string{`pipeline[0].to: expected a list, got "cloud"`},
		},
		{
			name:  "mapping expected",
			edits: []string{"batch: {max_points: 100, max_bytes: 64KiB, linger: 5ms}", "batch: 5"},
			want:  []string{"batch: expected a mapping, got 5"},
		},
		{
			name:  "string expected in a map",
			edits: []string{"measurement: temp}", "measurement: temp, tags: {zone: [1], floor: }}"},
			want: []string{
				"sources.mqtt[0].topics[0].tags.floor: expected a string, got null",
				"sources.mqtt[0].topics[0].tags.zone: expected a string, got a list",
			},
		},
		{
			name:  "site not usable as a tag value",
			edits: []string{"site: test", `site: "green\nhouse"`},
			want: []string{`site: must be usable as a tag value (printable, no surrounding spaces, ` +
				`no trailing backslash), got "green\nhouse"`},
		},
		{
			name:  "site with a trailing space",
			edits: []string{"site: test", `site: "test "`},
			want: []string{`site: must be usable as a tag value (printable, no surrounding spaces, ` +
				`no trailing backslash), got "test "`},
		},
		{
			name:  "log section",
			edits: []string{"site: test", "site: test\nlog: {level: verbose, format: xml}"},
			want: []string{
				`log.format: must be text or json, got "xml"`,
				`log.level: must be debug, info, warn or error, got "verbose"`,
			},
		},
		{
			name:  "gc_percent out of range",
			edits: []string{"site: test", "site: test\ngc_percent: 5"},
			want:  []string{"gc_percent: must be 0 (the runtime's setting) or between 10 and 1000, got 5"},
		},
		{
			name: "gc_percent from the environment",
			env:  []string{"RIVULET_GC_PERCENT=2000"},
			want: []string{"gc_percent: must be 0 (the runtime's setting) or between 10 and 1000, got 2000 (from RIVULET_GC_PERCENT)"},
		},
		{
			name: "nothing to run",
			yaml: "site: s\n",
			want: []string{
				"data_dir: must be set",
				"pipeline: at least one step is required",
				"sinks: at least one sink is required",
				"sources.mqtt: at least one source is required",
			},
		},
		{
			name: "syntax error",
			yaml: "site: [\n",
			want: []string{"syntax error: yaml: line 1: did not find expected node content"},
		},
		{
			name: "env override",
			env:  []string{"RIVULET_WAL_DURABILITY=bogus", "RIVULET_SITE=override"},
			want: []string{`wal.durability: must be fsync or write, got "bogus" (from RIVULET_WAL_DURABILITY)`},
		},
		{
			name: "bad compression",
			env:  []string{"RIVULET_WAL_COMPRESSION=zstd"},
			want: []string{`wal.compression: must be s2 or none, got "zstd" (from RIVULET_WAL_COMPRESSION)`},
		},
		{
			name: "bad env value",
			env:  []string{"RIVULET_BATCH_MAX_POINTS=lots", "RIVULET_EMBEDDED_BROKER_ENABLED=maybe"},
			want: []string{
				`batch.max_points: expected a number, got "lots" (from RIVULET_BATCH_MAX_POINTS)`,
				`embedded_broker.enabled: expected true or false, got "maybe" (from RIVULET_EMBEDDED_BROKER_ENABLED)`,
			},
		},
		{
			name: "bad env size",
			env:  []string{"RIVULET_WAL_SEGMENT_SIZE=huge"},
			// segment_size keeps its default, which the file's max_size is
			// then checked against.
			want: []string{"wal.max_size: must be at least twice segment_size (1MiB), got 1MiB",
				`wal.segment_size: invalid size "huge" (want e.g. 512KiB, 8MiB, 1GiB) (from RIVULET_WAL_SEGMENT_SIZE)`},
		},
		{
			name: "env typo and env list",
			env:  []string{"RIVULET_WAL_DURABILTY=write", "RIVULET_SINKS_0_URL=x", "RIVULET_CONFIG=ignored", "OTHER=x"},
			want: []string{
				"RIVULET_SINKS_0_URL: sinks is a list and can only be set in the config file",
				"RIVULET_WAL_DURABILTY: does not name a config key",
			},
		},
		{
			name:  "env cannot reach into a non-mapping",
			edits: []string{"batch: {max_points: 100, max_bytes: 64KiB, linger: 5ms}", "batch: [1]"},
			env:   []string{"RIVULET_BATCH_LINGER=1s"},
			want:  []string{"batch: expected a mapping, got a list"},
		},
		{
			name: "empty env is unset",
			env:  []string{"RIVULET_SITE="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.yaml
			if doc == "" {
				doc = edit(t, tt.edits...)
			}
			c, err := LoadBytes([]byte(doc), "yaml", tt.env)
			if got := problemLines(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
			if (err == nil) != (c != nil) {
				t.Errorf("config %v with error %v", c != nil, err)
			}
		})
	}
}

func TestSiteFormatsLoadEqual(t *testing.T) {
	t.Chdir("..") // the repository root, where the contract's path is relative to
	want, err := Load("testdata/site.yaml")
	if err != nil {
		t.Fatalf("site.yaml: %v", err)
	}
	for _, name := range []string{"site.toml", "site.json"} {
		got, err := Load(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from site.yaml:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

func TestSiteValues(t *testing.T) {
	c, err := LoadBytes(mustRead(t, "../testdata/site.yaml"), "yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Batch.MaxBytes != 4<<20 || c.Batch.Linger != 150*time.Millisecond || c.WAL.MaxSize != 1<<30 {
		t.Errorf("batch %+v wal %+v", c.Batch, c.WAL)
	}
	if c.GCPercent != 50 {
		t.Errorf("gc_percent = %d, want the default 50", c.GCPercent)
	}
	topic := ingest.DefaultTopic()
	topic.Filter, topic.Format, topic.Tags = "greenhouse/+/lp", "influx", map[string]string{"zone": "{1}"}
	if got := c.Sources.MQTT[0].Topics[1]; !reflect.DeepEqual(got, topic) {
		t.Errorf("topics[1] = %+v, want defaults plus the file's keys %+v", got, topic)
	}
	sink := forward.DefaultConfig()
	sink.Name, sink.Type, sink.Path = "local", "file", "/var/lib/rivulet/results.lp"
	if got := c.Sinks[1]; !reflect.DeepEqual(got, sink) {
		t.Errorf("sinks[1] = %+v, want %+v", got, sink)
	}
	if c.Sources.MQTT[0].KeepAlive != ingest.DefaultMQTT().KeepAlive {
		t.Errorf("mqtt[0].keep_alive = %s, want the default", c.Sources.MQTT[0].KeepAlive)
	}
}

func TestListItemDefaults(t *testing.T) {
	doc := edit(t,
		"{name: temp_1m, measurement: temp, to: [cloud, local]}",
		"{name: temp_1m, to: [cloud]}\n  - {name: last_5m, aggregates: [last], window: {size: 5m}, to: [local]}")
	c, err := LoadBytes([]byte(doc), "yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	step := engine.DefaultStep()
	step.Name, step.To = "temp_1m", []string{"cloud"}
	if !reflect.DeepEqual(c.Pipeline[0], step) {
		t.Errorf("pipeline[0] = %+v, want %+v", c.Pipeline[0], step)
	}
	win := window.DefaultConfig()
	win.Size = 5 * time.Minute
	// The file's list replaces the default aggregates instead of overwriting
	// its first item.
	if got := c.Pipeline[1]; !slices.Equal(got.Aggregates, []string{"last"}) || !reflect.DeepEqual(got.Window, win) {
		t.Errorf("pipeline[1] = %+v", got)
	}
}

func TestTagKeysKeepCase(t *testing.T) {
	c, err := LoadBytes([]byte(edit(t, "measurement: temp}", "measurement: temp, tags: {Zone: x, zone.id: y}}")), "yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Zone": "x", "zone.id": "y"}
	if got := c.Sources.MQTT[0].Topics[0].Tags; !reflect.DeepEqual(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	env := []string{
		"RIVULET_SITE=x", "RIVULET_WAL_DURABILITY=write", "RIVULET_BATCH_MAX_BYTES=4MiB",
		"RIVULET_BATCH_MAX_POINTS=20", "RIVULET_EMBEDDED_BROKER_ENABLED=true",
		"RIVULET_CHECKPOINT_INTERVAL=5s", "RIVULET_LOG_FORMAT=json", "RIVULET_LOG_FORMAT=text",
		"RIVULET_WAL_MAX_SIZE=1048576", "RIVULET_WAL_COMPRESSION=none",
	}
	c, err := LoadBytes([]byte(base), "yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Site: "x", WAL: wal.Config{Durability: "write", SegmentSize: 64 << 10, MaxSize: 1 << 20, Compression: "none"}}
	if c.Site != want.Site || c.WAL != want.WAL || c.Batch.MaxBytes != 4<<20 || c.Batch.MaxPoints != 20 ||
		!c.EmbeddedBroker.Enabled || c.Checkpoint.Interval != 5*time.Second || c.Log.Format != "text" {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestEnvVars(t *testing.T) {
	vars := envVars()
	for _, v := range []string{"RIVULET_SITE", "RIVULET_DATA_DIR", "RIVULET_WAL_DURABILITY",
		"RIVULET_EMBEDDED_BROKER_ENABLED", "RIVULET_CHECKPOINT_INTERVAL", "RIVULET_BATCH_MAX_BYTES"} {
		if !slices.Contains(vars, v) {
			t.Errorf("%s missing from %v", v, vars)
		}
	}
	// Two key paths must never share a variable.
	paths := map[string]bool{}
	for _, p := range envTable().scalars {
		paths[p] = true
	}
	if len(paths) != len(vars) {
		t.Errorf("%d variables for %d key paths", len(vars), len(paths))
	}
}

// TestConfigTypes walks the Config type so that a field another package adds
// cannot be one the decoder silently skips or fails on.
func TestConfigTypes(t *testing.T) {
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		switch {
		case isScalar(typ):
		case typ.Kind() == reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				if f.IsExported() && keyName(f) == "" && f.Tag.Get("mapstructure") != "-" {
					t.Errorf("%s.%s has no mapstructure tag", path, f.Name)
				}
				walk(joinPath(path, keyName(f)), f.Type)
			}
		case typ.Kind() == reflect.Pointer && typ.Elem().Kind() == reflect.Struct:
			walk(path, typ.Elem())
		case typ.Kind() == reflect.Slice:
			if e := typ.Elem(); e.Kind() == reflect.Struct && itemDefaults[e] == nil {
				t.Errorf("%s: no item defaults for %s", path, e)
			}
			walk(path+"[]", typ.Elem())
		case typ.Kind() == reflect.Map && typ.Key().Kind() == reflect.String:
			walk(path+".*", typ.Elem())
		default:
			t.Errorf("%s: the decoder cannot handle %s", path, typ)
		}
	}
	walk("", reflect.TypeFor[Config]())
}

func TestRelativeDataDir(t *testing.T) {
	c, err := LoadBytes([]byte(edit(t, "data_dir: /tmp/rivulet", "data_dir: ./state")), "yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "state"); c.DataDir != want {
		t.Errorf("data_dir = %q, want %q", c.DataDir, want)
	}
	c.DataDir = "state"
	if got := problemLines(t, c.Validate()); !slices.Equal(got, []string{`data_dir: must be an absolute path, got "state"`}) {
		t.Errorf("Validate = %q", got)
	}
}

func TestValidateHandBuilt(t *testing.T) {
	c := Default()
	if got := problemLines(t, c.Validate()); len(got) != 5 {
		t.Errorf("Default().Validate() = %q, want the five required keys", got)
	}
	c.Site, c.DataDir = "s", t.TempDir()
	mqtt := ingest.DefaultMQTT()
	mqtt.Name, mqtt.Broker, mqtt.ClientID = "m", "tcp://localhost:1883", "c"
	topic := ingest.DefaultTopic()
	topic.Filter, topic.Measurement = "a/#", "m"
	mqtt.Topics = []ingest.TopicConfig{topic}
	c.Sources.MQTT = []ingest.MQTTConfig{mqtt}
	step := engine.DefaultStep()
	step.Name, step.To = "s", []string{"out"}
	c.Pipeline = []engine.StepConfig{step}
	sink := forward.DefaultConfig()
	sink.Name, sink.Type = "out", "stdout"
	c.Sinks = []forward.Config{sink}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestProblemOrder(t *testing.T) {
	ps := problems{{"pipeline[10].name", "b"}, {"pipeline[2].name", "a"}, {"", "syntax"},
		{"batch", "z"}, {"batch", "y"}, {"pipeline", "p"}}
	var e *Error
	if !errors.As(ps.err("f.yaml"), &e) || e.File != "f.yaml" {
		t.Fatalf("err = %v", e)
	}
	want := "syntax\nbatch: y\nbatch: z\npipeline: p\npipeline[2].name: a\npipeline[10].name: b"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if (problems{}).err("") != nil {
		t.Error("no problems must give a nil error")
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	ini := filepath.Join(t.TempDir(), "site.ini")
	if err := os.WriteFile(ini, []byte("site=x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ini); err == nil || !strings.Contains(err.Error(), `unsupported config format "ini"`) {
		t.Errorf("ini: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("site: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := Load(bad); !errors.As(err, &e) || e.File != bad {
		t.Errorf("bad.yaml: %v", err)
	}
}

func TestSyntaxErrorPositions(t *testing.T) {
	tests := []struct{ format, doc, want string }{
		{"json", "{\n\"site\": x}", "syntax error: line 2: invalid character 'x' looking for beginning of value"},
		{"json", "[1]", "syntax error: line 1: json: cannot unmarshal array into Go value of type map[string]interface {}"},
		{"yaml", "? [a]\n: b\n", "syntax error: yaml: unmarshal errors: line 1: cannot unmarshal !!seq into string"},
		{"toml", "[log\n", "syntax error: line 1, column 5: toml: expected character ]"},
	}
	for _, tt := range tests {
		_, err := LoadBytes([]byte(tt.doc), tt.format, nil)
		if got := problemLines(t, err); len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s %q: %q, want %q", tt.format, tt.doc, got, tt.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var b strings.Builder
	LogConfig{Level: "warn", Format: "json"}.NewLogger(&b).Info("hidden")
	LogConfig{Level: "warn", Format: "json"}.NewLogger(&b).Warn("shown", "k", 1)
	if got := b.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time":`) ||
		!strings.Contains(got, `"msg":"shown","k":1`) {
		t.Errorf("json logger wrote %q", got)
	}
	b.Reset()
	LogConfig{Level: "debug", Format: "text"}.NewLogger(&b).Debug("d")
	if got := b.String(); !strings.Contains(got, "level=DEBUG msg=d") {
		t.Errorf("text logger wrote %q", got)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSecretFilesResolve(t *testing.T) {
	site := `site: s
data_dir: /d
sources:
  mqtt:
    - {name: m, broker: "tcp://h:1", client_id: c, username: u, password_file: mqtt-password, topics: [{filter: a/b, measurement: m}]}
pipeline: [{name: p, to: [x]}]
sinks:
  - {name: x, type: influx, url: "http://h:8086/api/v2/write?org=o&bucket=b", token_file: /abs/token}
`
	tests := []struct {
		name, want string
		env        []string
	}{
		{"systemd credentials directory", "/run/credentials/rivulet.service/mqtt-password", []string{"CREDENTIALS_DIRECTORY=/run/credentials/rivulet.service"}},
		{"next to the config", "/etc/rivulet/mqtt-password", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadBytes([]byte(site), "yaml", tc.env, "/etc/rivulet")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sources.MQTT[0].PasswordFile; got != tc.want {
				t.Errorf("password_file = %q, want %q", got, tc.want)
			}
			if got := c.Sinks[0].TokenFile; got != "/abs/token" {
				t.Errorf("absolute token_file changed to %q", got)
			}
		})
	}
}
