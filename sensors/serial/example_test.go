package serial_test

import (
	"fmt"

	"github.com/tallygw/tally/sensors/serial"
)

// A Framer splits what a port delivers, in whatever chunks, into lines,
// and reports over-long lines instead of growing without bound.
func ExampleFramer() {
	fr := serial.NewFramer(16)
	chunks := []string{"T=21.5\r\nT=2", "2.0\r\n", "0123456789abcdefXYZ\r\nT=23.0\r\n"}
	for _, c := range chunks {
		for _, f := range fr.Feed([]byte(c)) {
			if f.Err != nil {
				fmt.Printf("quarantine %q: %v\n", f.Line, f.Err)
				continue
			}
			fmt.Printf("line %q\n", f.Line)
		}
	}
	// Output:
	// line "T=21.5"
	// line "T=22.0"
	// quarantine "0123456789abcdefXYZ\r": line longer than 16 bytes (got 20)
	// line "T=23.0"
}
