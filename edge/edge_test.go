package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/internal/testpty"
	"github.com/tallygw/tally/sensors/eseal"
)

// daemon runs a real System in-process on a temporary data directory.
type daemon struct {
	cfg    *config.Config
	sys    *edge.System
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, yaml string) *daemon {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Generate(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65)); err != nil {
		t.Fatal(err)
	}
	return run(t, cfg)
}

// run starts a System on cfg's (existing) data directory.
func run(t *testing.T, cfg *config.Config) *daemon {
	t.Helper()
	sys, err := edge.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cfg: cfg, sys: sys, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- sys.Run(ctx) }()
	select {
	case <-sys.Pipeline().Ready():
	case err := <-d.done:
		t.Fatalf("daemon stopped at start: %v", err)
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop shuts the daemon down and returns its payloads, after an audit.
func (d *daemon) stop(t *testing.T) []*envelope.Payload {
	t.Helper()
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	d.cancel = nil
	if err := <-d.done; err != nil {
		t.Fatalf("daemon: %v", err)
	}
	st, err := store.Open(d.cfg.Path(d.cfg.Store.Path), d.cfg.Origin(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := keys.Load(d.cfg.Path(d.cfg.Keys.Ed25519), d.cfg.Path(d.cfg.Keys.MLDSA65))
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.NewSigner(d.cfg.Origin(), ks.Ed25519, ks.MLDSA65)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Run(context.Background(), st, cps.Keys(), d.cfg.Gateway.ID, nil); err != nil {
		t.Fatalf("audit after stop: %v", err)
	}
	var out []*envelope.Payload
	err = st.Readings(context.Background(), 0, func(r store.Row) error {
		p, err := envelope.Verify(r.Envelope, cps.Keys().Ed25519)
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replay writes lines to w paced at baud (10 bits a byte).
func replay(t *testing.T, w io.Writer, lines []string, baud int) {
	for _, l := range lines {
		b := []byte(l + "\r\n")
		if _, err := w.Write(b); err != nil {
			t.Fatalf("write to pty: %v", err)
		}
		time.Sleep(time.Duration(len(b)*10) * time.Second / time.Duration(baud))
	}
}

func captureLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(l, "# ") || l == "" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestNMEAOverPTYSurvivesUnplug replays a real GPS capture into a pseudo-
// terminal at its baud rate; halfway through the adapter is unplugged and a
// new one appears behind the same /dev/serial/by-id style link. The daemon
// is not restarted; readings from both halves end up signed in the store.
func TestNMEAOverPTYSurvivesUnplug(t *testing.T) {
	const baud = 57600
	lines := captureLines(t, "../../shared/testdata/gpsd/sirfstarv-nmea.log")
	link := filepath.Join(t.TempDir(), "usb-GPS_receiver-if00")
	first := testpty.New(t)
	if err := os.Symlink(first.Path, link); err != nil {
		t.Fatal(err)
	}
	d := start(t, fmt.Sprintf(`gateway:
  id: gw-pty
http:
  listen: "off"
sensors:
  - id: gps-1
    driver: nmea
    serial:
      port: %s
      baud: %d
      read_timeout: 100ms
      reconnect_min: 50ms
      reconnect_max: 200ms
`, link, baud))
	time.Sleep(300 * time.Millisecond) // the driver opens the port
	half := len(lines) / 2
	replay(t, first.Master, lines[:half], baud)
	time.Sleep(200 * time.Millisecond)
	first.Unplug()
	time.Sleep(300 * time.Millisecond) // the driver notices and retries
	second := testpty.New(t)
	os.Remove(link)
	if err := os.Symlink(second.Path, link); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // reopened through the link
	replay(t, second.Master, lines[half:], baud)
	time.Sleep(500 * time.Millisecond)
	payloads := d.stop(t)

	var gps []*envelope.Payload
	for _, p := range payloads {
		if p.Kind == "gps" {
			gps = append(gps, p)
		}
	}
	// Offline, the capture decodes to 59 fixes; an epoch or two may be cut
	// by the unplug.
	if len(gps) < 55 || len(gps) > 59 {
		t.Fatalf("%d gps readings in the store, want 55..59", len(gps))
	}
	last := gps[len(gps)-1]
	if last.SensorUS == nil || last.Clock != "gps" || last.Data["lat"] == nil || len(last.Raw) == 0 {
		t.Fatalf("last gps reading lacks time, position or raw frame: %+v", last)
	}
	firstT, lastT := time.UnixMicro(*gps[0].SensorUS), time.UnixMicro(*last.SensorUS)
	if lastT.Sub(firstT) < 50*time.Second {
		t.Fatalf("readings span %s: the second half did not arrive", lastT.Sub(firstT))
	}
}

// TestESealAckedAfterAccept sends the real e-seal messages over a pty and
// reads the acknowledgements back: every report gets exactly its ACK, only
// after it is stored; a repeated message is stored once and acked again.
func TestESealAckedAfterAccept(t *testing.T) {
	p := testpty.New(t)
	d := start(t, fmt.Sprintf(`gateway:
  id: gw-seal
http:
  listen: "off"
sensors:
  - id: seal-reader
    driver: eseal
    serial:
      port: %s
      baud: 9600
      read_timeout: 100ms
`, p.Path))
	time.Sleep(300 * time.Millisecond)
	msgs := captureLines(t, "../../shared/testdata/eseal/eseal_messages.txt")
	var wantAcks [][]byte
	var reports int
	for _, m := range msgs {
		msg, err := eseal.Parse([]byte(m))
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		if msg.Report {
			reports++
		}
		if a := msg.Ack(); a != nil {
			wantAcks = append(wantAcks, a)
		}
	}
	// The first report again: a duplicate (same seal, index and time).
	msgs = append(msgs, msgs[0])
	first, _ := eseal.Parse([]byte(msgs[0]))
	wantAcks = append(wantAcks, first.Ack())

	var got bytes.Buffer
	buf := make([]byte, 1024)
	for _, m := range msgs {
		if _, err := p.Master.Write([]byte(m + "\r\n")); err != nil {
			t.Fatal(err)
		}
		p.Master.SetReadDeadline(time.Now().Add(2 * time.Second))
		if msg, _ := eseal.Parse([]byte(m)); msg.Ack() == nil {
			continue
		}
		n, err := p.Master.Read(buf)
		if err != nil {
			t.Fatalf("no ack for %q: %v", m, err)
		}
		got.Write(buf[:n])
	}
	if want := bytes.Join(wantAcks, nil); got.String() != string(want) {
		t.Fatalf("acks\n got %q\nwant %q", got.String(), want)
	}
	st, _ := d.sys.Status(context.Background())
	payloads := d.stop(t)
	if len(payloads) != reports {
		t.Fatalf("%d readings stored, want %d (one per report, duplicate dropped)", len(payloads), reports)
	}
	if len(st.Sensors) != 1 || st.Sensors[0].Duplicates != 1 {
		t.Fatalf("sensor counters %+v, want one duplicate", st.Sensors)
	}
	for _, pl := range payloads {
		if pl.Kind != "seal" || pl.Data["state"] == nil || pl.MsgID == "" {
			t.Fatalf("seal reading %+v", pl)
		}
	}
}
