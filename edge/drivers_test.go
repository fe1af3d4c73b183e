package edge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/internal/testpty"
)

// logBuffer collects the daemon's log lines from its goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged is start with the daemon's debug log kept.
func startLogged(t *testing.T, yaml string) (*daemon, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Generate(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65)); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	sys, err := edge.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cfg: cfg, sys: sys, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- sys.Run(ctx) }()
	select {
	case <-sys.Pipeline().Ready():
	case err := <-d.done:
		t.Fatalf("daemon stopped at start: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { d.stop(t) })
	return d, logs
}

// crc16 is CRC-16/MODBUS, written here from the specification so the test
// slave does not share code with the poller under test.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func withCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// transmitter is a Modbus RTU temperature/humidity transmitter at slave
// address 1 on the master side of a pty: input registers 1 and 2 hold the
// temperature and the relative humidity in tenths (the temperature
// signed); every other register draws exception 02. Requests to any other
// address are ignored, as a slave that is not there ignores them.
type transmitter struct {
	bus  *os.File
	done chan struct{}

	mu       sync.Mutex // guards the fields below
	temp     int16      // tenths of a degree; rises 0.1 °C after each answer
	hum      uint16     // tenths of a percent
	requests map[byte]int
	answers  map[string]bool // every response frame sent
	bad      []string        // requests that were not well-formed
}

func startTransmitter(t *testing.T, bus *os.File, temp int16, hum uint16) *transmitter {
	s := &transmitter{bus: bus, done: make(chan struct{}), temp: temp, hum: hum,
		requests: map[byte]int{}, answers: map[string]bool{}}
	go s.run()
	t.Cleanup(func() {
		bus.SetReadDeadline(time.Now())
		<-s.done
	})
	return s
}

func (s *transmitter) run() {
	defer close(s.done)
	var pending []byte
	buf := make([]byte, 256)
	for {
		n, err := s.bus.Read(buf)
		if err != nil {
			return // closed, or the test is over
		}
		pending = append(pending, buf[:n]...)
		for len(pending) >= 8 {
			req := pending[:8]
			if crc16(req[:6]) != uint16(req[6])|uint16(req[7])<<8 {
				s.mu.Lock()
				s.bad = append(s.bad, fmt.Sprintf("% X", pending))
				s.mu.Unlock()
				pending = pending[1:] // resynchronise
				continue
			}
			pending = pending[8:]
			if resp := s.answer(req); resp != nil {
				if _, err := s.bus.Write(resp); err != nil {
					return
				}
			}
		}
	}
}

func (s *transmitter) answer(req []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	slave, fn := req[0], req[1]
	start, count := uint16(req[2])<<8|uint16(req[3]), uint16(req[4])<<8|uint16(req[5])
	s.requests[slave]++
	if slave != 1 {
		return nil
	}
	if fn != 4 || start < 1 || start+count > 3 || count == 0 {
		return withCRC([]byte{slave, fn | 0x80, 0x02})
	}
	regs := []uint16{uint16(s.temp), s.hum}[start-1 : start-1+count]
	resp := []byte{slave, fn, byte(2 * count)}
	for _, r := range regs {
		resp = append(resp, byte(r>>8), byte(r))
	}
	resp = withCRC(resp)
	s.answers[string(resp)] = true
	if start == 1 {
		s.temp++
	}
	return resp
}

func (s *transmitter) requestsTo(slave byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[slave]
}

func TestCRC16Vectors(t *testing.T) {
	// From shared/testdata/vectors.md.
	if got := crc16([]byte("123456789")); got != 0x4B37 {
		t.Fatalf("check value %04X, want 4B37", got)
	}
	for _, f := range [][]byte{
		{0x01, 0x04, 0x00, 0x01, 0x00, 0x02, 0x20, 0x0B},
		{0x01, 0x03, 0x02, 0xFF, 0x38, 0xF8, 0x66},
		{0x01, 0x83, 0x02, 0xC0, 0xF1},
	} {
		if got := withCRC(slices.Clone(f[:len(f)-2])); !bytes.Equal(got, f) {
			t.Errorf("% X, want % X", got, f)
		}
	}
}

// TestModbusTransmitterOverPTY runs the daemon with a modbus sensor
// polling, every 200 ms, a temperature transmitter at slave 1, a register
// slave 1 does not have, and slave 3, which never answers. Slave 1's
// readings are signed and stored with its values (negative ones too, and
// the raw response frame); the exceptions and timeouts are logged and
// polling goes on.
func TestModbusTransmitterOverPTY(t *testing.T) {
	p := testpty.New(t)
	tx := startTransmitter(t, p.Master, -5, 653) // -0.5 °C, rising; 65.3 %RH
	d, logs := startLogged(t, fmt.Sprintf(`gateway:
  id: gw-modbus
http:
  listen: "off"
checkpoint:
  interval: 500ms
sensors:
  - id: rs485
    driver: modbus
    serial:
      port: %s
      baud: 19200
      read_timeout: 100ms
      reconnect_min: 50ms
      reconnect_max: 200ms
    modbus:
      timeout: 150ms
      devices:
        - name: reefer-1
          slave: 1
          interval: 200ms
          points:
            - {field: celsius, function: 4, register: 1, signed: true, scale: 0.1, unit: "°C"}
            - {field: humidity_pct, function: 4, register: 2, scale: 0.1, unit: "%%RH"}
        - name: reefer-3
          slave: 3
          interval: 200ms
          points:
            - {field: celsius, function: 4, register: 1, signed: true, scale: 0.1}
        - name: reefer-1-setpoint
          slave: 1
          interval: 200ms
          points:
            - {field: celsius, function: 4, register: 7, signed: true, scale: 0.1}
`, p.Path))
	time.Sleep(2 * time.Second)
	st, err := d.sys.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	payloads := d.stop(t)

	if len(st.Drivers) != 1 || st.Drivers[0].State != "running" || st.Drivers[0].LastError != "" {
		t.Errorf("driver after 2 s of a dead slave: %+v", st.Drivers)
	}
	if n := tx.requestsTo(3); n < 4 {
		t.Errorf("slave 3 was asked %d times in 2 s at a 200 ms interval: polling stopped after it timed out", n)
	}
	tx.mu.Lock()
	answers, bad := tx.answers, tx.bad
	tx.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("malformed requests on the bus: %q", bad)
	}

	var temps []float64
	var firstRecv, lastRecv int64
	for _, pl := range payloads {
		if pl.Sensor != "reefer-1" {
			t.Errorf("reading from %s (%s): only reefer-1 answers with data", pl.Sensor, pl.Kind)
			continue
		}
		c, _ := pl.Data["celsius"].(float64)
		h, _ := pl.Data["humidity_pct"].(float64)
		if pl.Kind != "temperature" || pl.Data["probe"] != "reefer-1" || math.Abs(h-65.3) > 1e-9 {
			t.Errorf("reading %d: kind %s data %v", pl.Seq, pl.Kind, pl.Data)
		}
		raw := uint16(int16(math.Round(c * 10)))
		want := []byte{1, 4, 4, byte(raw >> 8), byte(raw), 0x02, 0x8D} // 65.3 %RH = 0x028D
		if !bytes.Equal(pl.Raw, withCRC(want)) || !answers[string(pl.Raw)] {
			t.Errorf("reading %d (%.1f °C): raw % X is not the frame the transmitter sent for it", pl.Seq, c, pl.Raw)
		}
		temps = append(temps, c)
		if firstRecv == 0 {
			firstRecv = pl.RecvUS
		}
		lastRecv = pl.RecvUS
	}
	t.Logf("%d readings: %v; slave 3 asked %d times", len(temps), temps, tx.requestsTo(3))
	if len(temps) < 5 {
		t.Fatalf("%d temperature readings in 2 s at a 200 ms interval, want at least 5\n%s", len(temps), logs.String())
	}
	// The transmitter's temperature rises 0.1 °C per answer from -0.5 °C:
	// the readings are those values in order, starting with the first.
	for i, c := range temps {
		if want := float64(-5+i) / 10; math.Abs(c-want) > 1e-9 {
			t.Errorf("reading %d: %v °C, want %v (signed, tenths)", i, c, want)
		}
	}
	if time.Duration(lastRecv-firstRecv)*time.Microsecond < time.Second {
		t.Errorf("readings span only %v: slave 1 was not polled throughout", time.Duration(lastRecv-firstRecv)*time.Microsecond)
	}
	log := logs.String()
	for _, want := range [][2]string{
		{"device=reefer-3 ", "no response from slave 3"},
		{"device=reefer-1-setpoint ", "exception 0x02 (illegal data address)"},
	} {
		found := false
		for l := range strings.SplitSeq(log, "\n") {
			if strings.Contains(l, `msg="modbus poll failed"`) && strings.Contains(l, want[0]) && strings.Contains(l, want[1]) {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line of a failed poll with %q and %q:\n%s", want[0], want[1], log)
		}
	}
}

// TestLinesThermometerOverPTY runs a lines sensor on a pty: good lines are
// stored as temperature readings, garbage lines go to the quarantine with
// their bytes and the reason, and the sensor's quarantine counter says how
// many.
func TestLinesThermometerOverPTY(t *testing.T) {
	p := testpty.New(t)
	d := start(t, fmt.Sprintf(`gateway:
  id: gw-lines
http:
  listen: "off"
sensors:
  - id: hold-thermo
    driver: lines
    serial:
      port: %s
      baud: 9600
      read_timeout: 100ms
    lines:
      pattern: '^T=(?P<t>[-+]?\d+(?:\.\d+)?)C$'
      kind: temperature
      fields:
        t: {name: celsius, min: -60, max: 80}
`, p.Path))
	time.Sleep(300 * time.Millisecond) // the driver opens the port
	good := "T=+23.5C"
	garbage := map[string]string{ // line → what the reason must say
		"T=+2#.5C":            "no match for pattern",
		"\x00\xff\xfe\x13~~~": "no match for pattern",
		"T=+99.0C":            "field celsius: 99 above max 80",
		"HELLO FROM PROBE":    "no match for pattern",
	}
	var stream bytes.Buffer
	goodN := 0
	for i, g := range slices.Sorted(maps.Keys(garbage)) {
		stream.WriteString(good + "\r\n")
		goodN++
		stream.WriteString(g + "\r\n")
		if i%2 == 0 {
			stream.WriteString("\r\n") // blank lines are skipped
		}
	}
	stream.WriteString(good + "\r\n")
	goodN++
	if _, err := p.Master.Write(stream.Bytes()); err != nil {
		t.Fatal(err)
	}

	var st *edge.Status
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		st, err = d.sys.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Sensors) == 1 && st.Sensors[0].Readings == int64(goodN) && st.Sensors[0].Quarantined == int64(len(garbage)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sensor counters %+v, want %d readings and %d quarantined", st.Sensors, goodN, len(garbage))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := st.Sensors[0]; s.Sensor != "hold-thermo" || s.LastKind != "temperature" {
		t.Errorf("sensor status %+v", s)
	}
	if len(st.Quarantine) != len(garbage) {
		t.Fatalf("%d quarantine rows, want %d: %+v", len(st.Quarantine), len(garbage), st.Quarantine)
	}
	for _, q := range st.Quarantine {
		want, ok := garbage[string(q.Raw)]
		if !ok {
			t.Errorf("quarantined %q: not one of the garbage lines (or not its exact bytes)", q.Raw)
			continue
		}
		if q.Sensor != "hold-thermo" || !strings.Contains(q.Reason, want) {
			t.Errorf("quarantined %q: sensor %s reason %q, want %q", q.Raw, q.Sensor, q.Reason, want)
		}
		delete(garbage, string(q.Raw))
	}

	payloads := d.stop(t)
	if len(payloads) != goodN {
		t.Fatalf("%d readings stored, want %d", len(payloads), goodN)
	}
	for _, pl := range payloads {
		if pl.Sensor != "hold-thermo" || pl.Kind != "temperature" || pl.Data["celsius"] != 23.5 || string(pl.Raw) != good {
			t.Errorf("stored reading %d: %s %s %v raw %q", pl.Seq, pl.Sensor, pl.Kind, pl.Data, pl.Raw)
		}
	}
}

// TestModbusBaudBelongsToSerial: the line speed of a Modbus bus is set once,
// in serial.baud; a baud in the modbus section is refused with the file,
// the line and the key.
func TestModbusBaudBelongsToSerial(t *testing.T) {
	const yaml = `gateway:
  id: gw-modbus
sensors:
  - id: rs485
    driver: modbus
    serial:
      port: /dev/ttyUSB0
      baud: 19200
    modbus:
      baud: 9600
      devices:
        - name: reefer-1
          slave: 1
          points:
            - {field: celsius, function: 4, register: 1, signed: true, scale: 0.1}
`
	_, err := config.Parse("tally.yaml", []byte(yaml), t.TempDir())
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err %v (%T), want a *config.Error", err, err)
	}
	if ce.Line != 10 || ce.Key != "sensors[0].modbus.baud" || !strings.Contains(ce.Msg, "serial.baud") {
		t.Errorf("error %+v, want line 10, key sensors[0].modbus.baud, a message naming serial.baud", ce)
	}
	if want := "tally.yaml:10: sensors[0].modbus.baud: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}

	// Without it, the bus runs at serial.baud.
	cfg, err := config.Parse("tally.yaml", []byte(strings.Replace(yaml, "      baud: 9600\n", "", 1)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sensors[0].Modbus.Baud; got != 19200 {
		t.Errorf("modbus timing at %d baud, want serial.baud 19200", got)
	}
}
