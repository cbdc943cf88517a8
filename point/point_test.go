package point

import (
	"runtime"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"sorted tags", "m,b=2,a=1 v=1.5 1700000000000000000\n", "m,a=1,b=2 v=1.5 1700000000000000000\n"},
		{"no time", "m v=1i\n", "m v=1i\n"},
		{"types", "m s=\"x y\",b=true,u=3u 5\n", "m s=\"x y\",b=true,u=3u 5\n"},
		{"escapes", "m\\ x,k\\=1=v\\,2 f=1 1\n", "m\\ x,k\\=1=v\\,2 f=1 1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			err := Parse([]byte(tc.in), func(p *Point) error {
				var err error
				out, err = AppendLine(out, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got %q want %q", out, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"m", "m,a=1", "m v=", "m v=1 notatime", "m v=1 99999999999999999999"} {
		if err := Parse([]byte(in), func(*Point) error { return nil }); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestPrecision(t *testing.T) {
	var got int64
	err := ParsePrecision([]byte("m v=1 1700000000"), lineprotocol.Second, func(p *Point) error { got = p.Time; return nil })
	if err != nil || got != 1700000000*1e9 {
		t.Fatalf("got %d, %v", got, err)
	}
}

func TestSetTag(t *testing.T) {
	var p Point
	p.SetTag("b", "1")
	p.SetTag("a", "2")
	p.SetTag("c", "3")
	p.SetTag("b", "4")
	want := []Tag{{"a", "2"}, {"b", "4"}, {"c", "3"}}
	if len(p.Tags) != 3 {
		t.Fatalf("%v", p.Tags)
	}
	for i := range want {
		if p.Tags[i] != want[i] {
			t.Fatalf("%v", p.Tags)
		}
	}
}

// TestDecoderReleasesData checks that a reused Decoder keeps no reference
// to the data it parsed once Parse returns: the engine's decoder would
// otherwise keep the last batch (and with shared reads, a log segment)
// alive.
func TestDecoderReleasesData(t *testing.T) {
	var d Decoder
	freed := make(chan struct{})
	func() {
		data := []byte("m,a=1,b=2 x=1,y=\"s\" 1\nm,a=3 x=2 2\n")
		runtime.SetFinalizer(&data[0], func(*byte) { close(freed) })
		n := 0
		if err := d.Parse(data, func(p *Point) error { n++; return nil }); err != nil || n != 2 {
			t.Fatalf("Parse: %v, %d points", err, n)
		}
	}()
	defer runtime.KeepAlive(&d) // d is reused after the check
	for range 10 {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the parsed data is still reachable from the Decoder")
}
