package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/sensors/serial"
)

func cmdPorts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("ports", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	ports, err := serial.List()
	if err != nil {
		return fmt.Errorf("list serial ports: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ports)
	}
	if len(ports) == 0 {
		fmt.Fprintln(stdout, "no serial ports found. Plug in the adapter and check `dmesg | tail` (a USB adapter shows up as ttyUSB* or ttyACM*).")
		return nil
	}
	for _, p := range ports {
		fmt.Fprintf(stdout, "%s", p.Path)
		if p.USB {
			fmt.Fprintf(stdout, "  USB %s:%s", p.VID, p.PID)
			if p.Manufacturer != "" || p.Product != "" {
				fmt.Fprintf(stdout, "  %s", strings.TrimSpace(p.Manufacturer+" "+p.Product))
			}
			if p.SerialNumber != "" {
				fmt.Fprintf(stdout, "  serial %s", p.SerialNumber)
			}
		}
		fmt.Fprintln(stdout)
		for _, l := range p.ByID {
			fmt.Fprintf(stdout, "    %s   (use this as serial.port: it survives re-plugging)\n", l)
		}
		for _, l := range p.ByPath {
			fmt.Fprintf(stdout, "    %s\n", l)
		}
	}
	return nil
}

// probeBauds are tried in this order by --baud auto.
var probeBauds = []int{4800, 9600, 38400, 115200, 19200, 57600}

func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("probe", stderr)
	port := fs.String("port", "", "serial port, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ link (see tally ports)")
	driverName := fs.String("driver", "nmea", "decoder: "+strings.Join(edge.LineDrivers[:2], ", "))
	baudFlag := fs.String("baud", "auto", "line speed, or auto to try "+fmt.Sprint(probeBauds))
	listen := fs.Duration("listen", 3*time.Second, "how long to listen at each rate while detecting")
	forDur := fs.Duration("for", 0, "stop after this long; 0 runs until Ctrl-C")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *port == "" {
		return usageError("probe needs --port (list ports with: tally ports)")
	}
	if *driverName == "lines" {
		return usageError("probe does not take the lines driver (it needs a pattern); use tally decode --config F --sensor ID on a capture")
	}
	sc := config.Sensor{ID: "probe", Driver: *driverName}
	if _, err := edge.LineDecoder(sc); err != nil {
		return usageError("%v", err)
	}
	bauds := probeBauds
	if *baudFlag != "auto" {
		var b int
		if _, err := fmt.Sscan(*baudFlag, &b); err != nil {
			return usageError("--baud %q is not a number or auto", *baudFlag)
		}
		bauds = []int{b}
	}
	if *forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forDur)
		defer cancel()
	}
	baud := bauds[0]
	if len(bauds) > 1 {
		var err error
		baud, err = detectBaud(ctx, *port, bauds, sc, *listen, stdout)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "reading %s at %d baud with the %s decoder; Ctrl-C to stop\n", *port, baud, *driverName)
	ok, bad, err := listenPort(ctx, *port, baud, sc, func(line string, rec map[string]any, derr error) {
		if derr != nil {
			fmt.Fprintf(stdout, "  rejected: %v: %q\n", derr, line)
			return
		}
		if rec != nil {
			b, _ := json.Marshal(rec)
			fmt.Fprintf(stdout, "  %s\n", b)
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintf(stdout, "%d lines decoded, %d rejected\n", ok, bad)
	if ok == 0 {
		return noValidInput(*port, []int{baud}, *driverName)
	}
	return nil
}

func noValidInput(port string, bauds []int, driver string) error {
	return fmt.Errorf("nothing valid arrived on %s at %v baud for the %s decoder. Check: the device has power; TX and RX are not swapped (adapter TX goes to device RX); for RS-485, A/B polarity and termination; the driver is right for this device; the port is the right one (tally ports)", port, bauds, driver)
}

// detectBaud listens at each rate and picks the first where lines decode.
func detectBaud(ctx context.Context, port string, bauds []int, sc config.Sensor, listen time.Duration, stdout io.Writer) (int, error) {
	for i, b := range bauds {
		fmt.Fprintf(stdout, "trying %d baud for %s … ", b, listen)
		lctx, cancel := context.WithTimeout(ctx, listen)
		ok, bad, err := listenPort(lctx, port, b, sc, nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stdout)
			return 0, err
		}
		fmt.Fprintf(stdout, "%d valid, %d rejected\n", ok, bad)
		if ok > 0 && ok >= bad {
			return b, nil
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return 0, ctx.Err() // Ctrl-C
		}
		if ctx.Err() != nil {
			return 0, noValidInput(port, bauds[:i+1], sc.Driver)
		}
	}
	return 0, noValidInput(port, bauds, sc.Driver)
}

// listenPort reads lines from port at baud until ctx is done, decoding each.
// It counts valid lines (lines that decoded without error) and rejected ones.
func listenPort(ctx context.Context, port string, baud int, sc config.Sensor, each func(line string, rec map[string]any, err error)) (ok, bad int, err error) {
	dec, err := edge.LineDecoder(sc)
	if err != nil {
		return 0, 0, err
	}
	p, err := serial.Open(serial.Config{Port: port, Baud: baud, ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	framer := serial.NewFramer(256)
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		n, rerr := p.Read(buf)
		if rerr != nil {
			return ok, bad, fmt.Errorf("read %s: %w", port, rerr)
		}
		for _, f := range framer.Feed(buf[:n]) {
			if f.Err != nil {
				bad++
				if each != nil {
					each(string(f.Line), nil, f.Err)
				}
				continue
			}
			if len(f.Line) == 0 {
				continue
			}
			rs, derr := dec.Decode(f.Line, time.Now())
			if derr != nil {
				bad++
			} else {
				ok++
			}
			if each != nil {
				if derr != nil {
					each(string(f.Line), nil, derr)
				}
				for _, r := range rs {
					each(string(f.Line), decodeRecord(r), nil)
				}
			}
		}
	}
	return ok, bad, ctx.Err()
}
