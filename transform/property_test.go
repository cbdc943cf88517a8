package transform

import (
	"slices"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"pgregory.net/rapid"

	"github.com/rivulet-edge/rivulet/point"
)

var (
	propFieldKeys = []string{"a", "b", "c", "d", "e"}
	propTagKeys   = []string{"a", "b", "c", "d"}
)

// genPoint draws a valid point: sorted distinct tags, distinct fields, at
// least one field, values of every kind.
func genPoint(t *rapid.T) point.Point {
	p := point.Point{Measurement: rapid.SampledFrom([]string{"m", "n x", "o,p"}).Draw(t, "measurement")}
	for _, k := range propTagKeys {
		if rapid.Bool().Draw(t, "tag "+k) {
			p.Tags = append(p.Tags, point.Tag{Key: k, Value: rapid.StringMatching(`[a-z =,]{0,3}[a-z]`).Draw(t, "value "+k)})
		}
	}
	keys := rapid.SliceOfNDistinct(rapid.SampledFrom(propFieldKeys), 1, len(propFieldKeys), rapid.ID[string]).Draw(t, "fields")
	for _, k := range keys {
		var v lineprotocol.Value
		switch rapid.IntRange(0, 4).Draw(t, "kind "+k) {
		case 0:
			v, _ = lineprotocol.FloatValue(rapid.Float64Range(-1e6, 1e6).Draw(t, "float"))
		case 1:
			v = lineprotocol.IntValue(rapid.Int64().Draw(t, "int"))
		case 2:
			v = lineprotocol.UintValue(rapid.Uint64().Draw(t, "uint"))
		case 3:
			v = lineprotocol.BoolValue(rapid.Bool().Draw(t, "bool"))
		default:
			v, _ = lineprotocol.StringValue(rapid.StringMatching(`[a-z "\\]{0,4}`).Draw(t, "string"))
		}
		p.AddField(k, v)
	}
	p.Time = rapid.Int64Range(0, 1<<62).Draw(t, "time")
	return p
}

func genKeys(t *rapid.T, label string, from []string) []string {
	return rapid.SliceOfNDistinct(rapid.SampledFrom(from), 0, len(from), rapid.ID[string]).Draw(t, label)
}

// TestKeepDropProperty checks that keep and drop only ever emit valid
// points, holding exactly the fields and tags a simple model predicts.
func TestKeepDropProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genPoint(t)
		if _, err := point.AppendLine(nil, &in); err != nil {
			t.Fatalf("generated an invalid point: %v", err)
		}
		keep := KeepConfig{Fields: genKeys(t, "keep fields", propFieldKeys), Tags: genKeys(t, "keep tags", propTagKeys)}
		drop := KeepConfig{Fields: genKeys(t, "drop fields", propFieldKeys), Tags: genKeys(t, "drop tags", propTagKeys)}
		pr, err := Compile(Config{Keep: keep, Drop: drop})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		var wantFields []string
		for _, f := range in.Fields {
			if (len(keep.Fields) == 0 || slices.Contains(keep.Fields, f.Key)) && !slices.Contains(drop.Fields, f.Key) {
				wantFields = append(wantFields, f.Key)
			}
		}
		var wantTags []string
		for _, tg := range in.Tags {
			if (len(keep.Tags) == 0 || slices.Contains(keep.Tags, tg.Key)) && !slices.Contains(drop.Tags, tg.Key) {
				wantTags = append(wantTags, tg.Key)
			}
		}
		emitted := 0
		err = pr.Apply(&in, func(p *point.Point) {
			emitted++
			if _, err := point.AppendLine(nil, p); err != nil {
				t.Fatalf("emitted an invalid point: %v", err)
			}
			var gotFields, gotTags []string
			for _, f := range p.Fields {
				gotFields = append(gotFields, f.Key)
			}
			for _, tg := range p.Tags {
				gotTags = append(gotTags, tg.Key)
			}
			if !slices.Equal(gotFields, wantFields) || !slices.Equal(gotTags, wantTags) {
				t.Fatalf("fields %v tags %v, want %v %v", gotFields, gotTags, wantFields, wantTags)
			}
		})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if want := min(len(wantFields), 1); emitted != want {
			t.Fatalf("emitted %d points, want %d", emitted, want)
		}
	})
}
