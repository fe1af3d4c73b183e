package serial

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors/modbus"
)

// serveModbus plays a Modbus RTU slave (address 1) on the device side of
// the pty until it is unplugged: every read request is answered with the
// register value (tenths of a degree).
func serveModbus(tp *testPTY, value uint16) {
	req := make([]byte, 8) // a read request is 8 bytes
	for {
		if _, err := io.ReadFull(tp.Master, req); err != nil {
			return
		}
		r, err := modbus.ParseRequest(req)
		if err != nil || r.Slave != 1 {
			continue
		}
		values := make([]uint16, r.Count)
		for i := range values {
			values[i] = value
		}
		resp, err := modbus.EncodeResponse(r.Slave, r.Function, values)
		if err != nil {
			return
		}
		if _, err := tp.Master.Write(resp); err != nil {
			return
		}
	}
}

// The Modbus poller, built once over PortRunner.Port, keeps polling
// across an unplug and a re-plug under another device name.
func TestRunPortModbusPoller(t *testing.T) {
	first := newPTY(t)
	go serveModbus(first, 215)
	port := byIDLink(t, first.Path)
	logs := newLogRecorder()
	sink := &testSink{}

	var poller *modbus.Poller
	r, err := NewPortRunner(testConfig(port), func(ctx context.Context, _ Port) error {
		return poller.Run(ctx, sink)
	}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Port().Read(make([]byte, 1)); err != ErrNotOpen {
		t.Errorf("Port().Read before Run = %v, want ErrNotOpen", err)
	}
	poller, err = modbus.New(modbus.Config{
		Baud:    4800,
		Timeout: 300 * time.Millisecond,
		Devices: []modbus.Device{{
			Name: "reefer1", Slave: 1, Interval: 30 * time.Millisecond,
			Points: []modbus.Point{{Field: modbus.FieldCelsius, Function: modbus.FuncReadInputRegisters, Register: 1, Signed: true, Scale: 0.1}},
		}},
	}, r.Port(), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	}()

	waitFor(t, "a poll", func() bool { return len(sink.celsius()) >= 1 })
	first.Unplug()
	waitFor(t, "the loss", func() bool { return r.Stats().Lost == 1 })
	second := newPTYNot(t, first.Path) // back under another name
	go serveModbus(second, 0xFFCE)     // -5.0 °C
	link(t, port, second.Path)
	waitFor(t, "a poll after the re-plug", func() bool {
		c := sink.celsius()
		return len(c) > 0 && c[len(c)-1] == -5
	})
	if c := sink.celsius(); c[0] != 21.5 {
		t.Errorf("first reading %v °C, want 21.5", c[0])
	}
	st := r.Stats()
	if st.Opens != 2 || st.Device != second.Path || st.State != StateOpen {
		t.Errorf("stats %+v", st)
	}
	if logs.count("serial port lost") != 1 || logs.count("serial port back") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}
