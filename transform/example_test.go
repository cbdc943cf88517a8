package transform_test

import (
	"fmt"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/transform"
)

// A step that keeps plausible temperatures, adds Fahrenheit and a site tag,
// then splits the point into one point per field. In a site config:
//
//	where: measurement == "temperature" && fields.value > -40
//	map:
//	  fields: {value_f: "round((fields.value * 1.8 + 32) * 10) / 10"}
//	  tags: {site: 'tags.zone + "-" + tags.sensor'}
//	rename: {fields: {value: value_c}}
//	drop: {tags: [sensor]}
//	enrich:
//	  - tag: zone
//	    table: {a: {building: north}}
//	    default: {building: unknown}
//	split: {field: value, tag: unit}
func ExampleCompile() {
	pr, err := transform.Compile(transform.Config{
		Where: `measurement == "temperature" && fields.value > -40`,
		Map: transform.MapConfig{
			Fields: map[string]string{"value_f": "round((fields.value * 1.8 + 32) * 10) / 10"},
			Tags:   map[string]string{"site": `tags.zone + "-" + tags.sensor`},
		},
		Rename: transform.RenameConfig{Fields: map[string]string{"value": "value_c"}},
		Drop:   transform.KeepConfig{Tags: []string{"sensor"}},
		Enrich: []transform.EnrichConfig{{
			Tag:     "zone",
			Table:   map[string]map[string]string{"a": {"building": "north"}},
			Default: map[string]string{"building": "unknown"},
		}},
		Split: transform.SplitConfig{Field: "value", Tag: "unit"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	input := "temperature,sensor=s1,zone=a value=21.5 1700000000000000000\n" +
		"temperature,sensor=s2,zone=b value=-55 1700000000000000000\n" +
		"temperature,sensor=s3,zone=c value=30 1700000000000000000\n"
	err = point.Parse([]byte(input), func(p *point.Point) error {
		return pr.Apply(p, func(out *point.Point) { fmt.Println(out) })
	})
	if err != nil {
		fmt.Println(err)
	}

	_, err = transform.Compile(transform.Config{Where: "tags.zone > 3"})
	fmt.Println(err)
	// Output:
	// temperature,building=north,site=a-s1,unit=value_c,zone=a value=21.5 1700000000000000000
	// temperature,building=north,site=a-s1,unit=value_f,zone=a value=70.7 1700000000000000000
	// temperature,building=unknown,site=c-s3,unit=value_c,zone=c value=30 1700000000000000000
	// temperature,building=unknown,site=c-s3,unit=value_f,zone=c value=86 1700000000000000000
	// where: invalid operation: > (mismatched types string and int) (1:11)
}
