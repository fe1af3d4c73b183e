package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/sensors"
)

// decodeRecord is one line of `tally decode` output: the reading's payload
// fields, flattened.
func decodeRecord(r sensors.Reading) map[string]any {
	m := sensors.Fields(r)
	m["sensor"], m["kind"] = r.Sensor, r.Kind
	return m
}

func cmdDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("decode", stderr)
	driverName := fs.String("driver", "", "decoder: "+strings.Join(lineDriverNames(), ", "))
	sensorID := fs.String("sensor", "", "take the decoder settings of this sensor from --config (needed for lines)")
	quiet := fs.Bool("q", false, "do not list rejected lines on stderr, only the summary")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: tally decode --driver D [--config F --sensor ID] FILE (- for stdin)")
	}
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open capture: %w", err)
		}
		defer f.Close()
		in = f
	}
	dec, err := lineDecoderFor(*driverName, *sensorID, c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	var readings, rejected, lines int
	emit := func(rs []sensors.Reading) error {
		for _, r := range rs {
			readings++
			if err := enc.Encode(decodeRecord(r)); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		lines++
		if isComment(line) || len(line) == 0 { // blank lines are skipped, as the serial line loop does
			continue
		}
		rs, err := dec.Decode(line, time.Now())
		if err != nil {
			rejected++
			if !*quiet {
				fmt.Fprintf(stderr, "line %d: %v: %q\n", lines, err, truncate(line, 120))
			}
		}
		if err := emit(rs); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read capture: %w", err)
	}
	if err := emit(dec.Flush()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "decode: %d lines, %d readings, %d rejected\n", lines, readings, rejected)
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func lineDriverNames() []string { return edge.LineDrivers }

// lineDecoderFor returns the decoder for `tally decode`: from the named
// sensor of --config when --sensor is given, else the driver's defaults.
func lineDecoderFor(driverName, sensorID string, c *common) (sensors.LineDecoder, error) {
	if sensorID != "" {
		cfg, err := c.load()
		if err != nil {
			return nil, err
		}
		for _, sc := range cfg.Sensors {
			if sc.ID == sensorID {
				if driverName != "" && driverName != sc.Driver {
					return nil, usageError("sensor %s uses driver %s, not %s", sensorID, sc.Driver, driverName)
				}
				return edge.LineDecoder(sc)
			}
		}
		return nil, fmt.Errorf("no sensor %q in %s", sensorID, cfg.File())
	}
	if driverName == "" {
		return nil, usageError("decode needs --driver (%s)", strings.Join(edge.LineDrivers, ", "))
	}
	return edge.LineDecoder(config.Sensor{ID: driverName, Driver: driverName})
}

// isComment reports whether a capture line is a comment: "#" followed by a
// space, a tab or nothing, as gpsd's and tally's capture files write them.
// Device output never looks like that (e-seal frames start with "##S").
func isComment(line []byte) bool {
	return len(line) > 0 && line[0] == '#' && (len(line) == 1 || line[1] == ' ' || line[1] == '\t')
}
