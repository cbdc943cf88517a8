package point

import (
	"bytes"
	"strings"
	"testing"
)

// TestDecoderMatchesParse checks that borrowed strings read the same as
// Parse's own copies, escaped tokens included, while fn runs.
func TestDecoderMatchesParse(t *testing.T) {
	data := []byte("m,b=2,a=1 f=1,g=\"s\" 5\n" +
		"m\\ x,t\\,k=v\\ 1,u=w\\=2 f\\ 1=2i,g=true\n" +
		"\n# comment\n" +
		"other,a=x,a=y v=3u 7\n")
	var want []string
	if err := Parse(data, func(p *Point) error { want = append(want, p.String()); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []string
	var d Decoder
	for range 2 { // reused
		got = got[:0]
		if err := d.Parse(data, func(p *Point) error { got = append(got, p.String()); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("Decoder:\n%s\nParse:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if err := d.Parse([]byte("m f=1\nbad line\n"), func(*Point) error { return nil }); err == nil {
		t.Fatal("no error for a bad line")
	}
}

// TestDecoderBorrows pins the contract: strings alias data, so a caller that
// keeps one must clone it.
func TestDecoderBorrows(t *testing.T) {
	data := []byte("meas,tag=value f=1\n")
	var d Decoder
	var kept string
	if err := d.Parse(data, func(p *Point) error { kept = p.Tags[0].Value; return nil }); err != nil {
		t.Fatal(err)
	}
	copy(data, bytes.Repeat([]byte("x"), len(data)))
	if kept != "xxxxx" {
		t.Fatalf("kept %q: Decoder no longer borrows (update the contract and the engine)", kept)
	}
}
