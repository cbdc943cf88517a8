package forward

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// partialServer behaves like InfluxDB 1.x: it stores the lines it can and
// answers 400 "partial write" naming the first bad one (a line containing
// "bad"); a body over maxBody bytes is refused whole with 413.
type partialServer struct {
	maxBody int
	mu      sync.Mutex
	stored  map[string]int // line -> times written
}

func (p *partialServer) respond(_ int, body string, w http.ResponseWriter) {
	if p.maxBody > 0 && len(body) > p.maxBody {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = w.Write([]byte(`{"error":"Request Entity Too Large"}`))
		return
	}
	var bad []string
	p.mu.Lock()
	for _, l := range strings.SplitAfter(body, "\n") {
		switch {
		case l == "":
		case strings.Contains(l, "bad"):
			bad = append(bad, strings.TrimSpace(l))
		default:
			p.stored[l]++
		}
	}
	p.mu.Unlock()
	if len(bad) > 0 {
		w.WriteHeader(http.StatusBadRequest)
		msg := fmt.Sprintf("partial write: unable to parse '%s': invalid field format dropped=%d", bad[0], len(bad))
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *partialServer) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for l := range p.stored {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func TestRunnerSplitsAndDeadLettersExactly(t *testing.T) {
	tests := []struct {
		name    string
		maxBody int
		entries []string
		good    []string // lines that must end up stored
		dead    string   // dead-letter file
		reasons []deadReason
	}{
		{
			name:    "partial write: the bad lines only",
			entries: []string{"m v=1 1\nbad 2\n", "m v=3 3\n", "m v=4 4\nm v=5 5\nbad 6\nm v=7 7\n"},
			good:    []string{"m v=1 1\n", "m v=3 3\n", "m v=4 4\n", "m v=5 5\n", "m v=7 7\n"},
			dead:    "bad 2\nbad 6\n",
			reasons: []deadReason{
				{Status: 400, Error: "partial write: unable to parse 'bad 2': invalid field format dropped=1", FirstSeq: 1, LastSeq: 1, Points: 1, Offset: 0, Bytes: 6},
				{Status: 400, Error: "partial write: unable to parse 'bad 6': invalid field format dropped=1", FirstSeq: 3, LastSeq: 3, Points: 1, Offset: 6, Bytes: 6},
			},
		},
		{
			name:    "413: halves until they fit",
			maxBody: 20,
			entries: []string{"m v=1 1\nm v=2 2\n", "m v=3 3\nm v=4 4\nm v=5 5\n"},
			good:    []string{"m v=1 1\n", "m v=2 2\n", "m v=3 3\n", "m v=4 4\n", "m v=5 5\n"},
		},
		{
			name:    "413: a line too large alone is dead-lettered",
			maxBody: 20,
			entries: []string{"m v=1 1\n", "m,big=xxxxxxxxxxxxxxxx v=2 2\n", "m v=3 3\n"},
			good:    []string{"m v=1 1\n", "m v=3 3\n"},
			dead:    "m,big=xxxxxxxxxxxxxxxx v=2 2\n",
			reasons: []deadReason{
				{Status: 413, Error: "Request Entity Too Large", FirstSeq: 2, LastSeq: 2, Points: 1, Offset: 0, Bytes: 29},
			},
		},
		{
			name:    "all bad",
			entries: []string{"bad 1\nbad 2\n"},
			dead:    "bad 1\nbad 2\n",
			reasons: []deadReason{
				{Status: 400, Error: "partial write: unable to parse 'bad 1': invalid field format dropped=1", FirstSeq: 1, LastSeq: 1, Points: 1, Offset: 0, Bytes: 6},
				{Status: 400, Error: "partial write: unable to parse 'bad 2': invalid field format dropped=1", FirstSeq: 1, LastSeq: 1, Points: 1, Offset: 6, Bytes: 6},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := &partialServer{maxBody: tt.maxBody, stored: map[string]int{}}
			srv := newInfluxServer(t, ps.respond)
			cfg := testConfig(srv.URL + "/write?db=edge")
			box := newFakeOutbox(tt.entries...)
			r, _, dl := newTestRunner(t, cfg, box, 0.5)
			startRunner(t, r)
			box.waitCommitted(t, uint64(len(tt.entries)))

			good := append([]string(nil), tt.good...)
			sort.Strings(good)
			if got := ps.lines(); !reflect.DeepEqual(got, good) && !(len(got) == 0 && len(good) == 0) {
				t.Errorf("stored %q, want %q", got, good)
			}
			if tt.dead == "" {
				if st := r.Stats(); st.DeadLetteredPoints != 0 {
					t.Errorf("dead-lettered %d points", st.DeadLetteredPoints)
				}
			} else if got := readFile(t, dl); got != tt.dead {
				t.Errorf("dead letter %q, want %q", got, tt.dead)
			}
			var reasons []deadReason
			if tt.dead != "" {
				for _, line := range strings.Split(strings.TrimSpace(readFile(t, dl+".reasons")), "\n") {
					var rs deadReason
					if err := json.Unmarshal([]byte(line), &rs); err != nil {
						t.Fatal(err)
					}
					rs.Time, rs.Sink = "", ""
					reasons = append(reasons, rs)
				}
			}
			if !reflect.DeepEqual(reasons, tt.reasons) {
				t.Errorf("reasons\n%+v\nwant\n%+v", reasons, tt.reasons)
			}
			st := r.Stats()
			if want := uint64(len(tt.good)); st.DeliveredPoints != want {
				t.Errorf("delivered %d points, want %d", st.DeliveredPoints, want)
			}
			if want := uint64(strings.Count(tt.dead, "\n")); st.DeadLetteredPoints != want {
				t.Errorf("dead-lettered %d points, want %d", st.DeadLetteredPoints, want)
			}
		})
	}
}

func TestHalfLine(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"a\nb\n", 2},
		{"aaaa\nb\n", 5},
		{"a\nbbbbbb\n", 2},
		{"a\nb\nc\nd\n", 6},
	}
	for _, tt := range tests {
		if got := halfLine([]byte(tt.in)); got != tt.want {
			t.Errorf("halfLine(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
