package lines_test

import (
	"fmt"
	"time"

	"github.com/tallygw/tally/sensors/lines"
)

func ExampleNew() {
	dec, err := lines.New("reefer-probe-1", lines.Config{
		Pattern: `^TEMP:(?P<t>-?\d+\.\d) HUM:(?P<h>\d+)$`,
		Kind:    "temperature",
		Fields: map[string]lines.Field{
			"t": {Name: "celsius"},
			"h": {Name: "humidity_pct", Type: "int"},
		},
	})
	if err != nil {
		panic(err)
	}
	rs, err := dec.Decode([]byte("TEMP:-18.3 HUM:65"), time.Now())
	fmt.Println(rs[0].Data["celsius"], rs[0].Data["humidity_pct"], err)

	_, err = dec.Decode([]byte("TEMP:-18.3 HUM:"), time.Now())
	fmt.Println(err)

	_, err = lines.New("reefer-probe-1", lines.Config{
		Pattern: `^T=(?P<t>\S+)$`,
		Kind:    "temperature",
		Fields:  map[string]lines.Field{"t": {Name: "celsius", Type: "double"}},
	})
	fmt.Println(err)
	// Output:
	// -18.3 65 <nil>
	// lines: no match for pattern "^TEMP:(?P<t>-?\\d+\\.\\d) HUM:(?P<h>\\d+)$"
	// lines: fields.t.type: unknown type "double" (want float, int or string)
}
