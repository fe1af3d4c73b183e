package uplink

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/store"
)

// TestUplinkProcess is the uplink of TestKill running in a child process;
// it does nothing when run directly.
func TestUplinkProcess(t *testing.T) {
	db, broker := os.Getenv("TALLY_UPLINK_DB"), os.Getenv("TALLY_UPLINK_BROKER")
	if db == "" {
		t.Skip("child process of TestKill")
	}
	st, err := store.Open(db, "tally/gw-up", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := testConfig(broker)
	cfg.Rate, _ = strconv.ParseFloat(os.Getenv("TALLY_UPLINK_RATE"), 64)
	u, err := New(cfg, "gw-up", st, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	u.Run(context.Background()) // until killed
}

// TestKill kills (SIGKILL) a process running the uplink in the middle of a
// backlog and starts a new uplink on the same store: it resumes from the
// cursor the dead one recorded. Only items from that cursor on are sent
// again; nothing is lost or reordered.
func TestKill(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 300, time.Hour)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fillChunks(t, g, 2500, 100)

	out := &lockedBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUplinkProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "TALLY_UPLINK_DB="+filepath.Join(g.Dir, "tally.db"), "TALLY_UPLINK_BROKER="+b.url(), "TALLY_UPLINK_RATE=1000")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pos, err := g.Store.Cursor(ctx, "uplink.readings")
		if err != nil {
			t.Fatal(err)
		}
		if pos >= 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child uplink recorded cursor %d after 15 s:\n%s", pos, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // between two cursor writes
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cursor, err := g.Store.Cursor(ctx, "uplink.readings")
	if err != nil {
		t.Fatal(err)
	}
	size := g.Store.Size()

	r := startUplink(t, testConfig(b.url()), g, nil)
	if got := r.u.Status().Cursor; got != cursor {
		t.Errorf("new uplink starts at %d, want the stored cursor %d", got, cursor)
	}
	c := newChecker(t, g, prefix)
	waitUpstream(t, c, up, size, false, 15*time.Second)
	waitForwarded(t, r.u, size, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	v := c.check(up.snapshot())
	t.Logf("killed with cursor %d recorded; upstream: %d readings, %d checkpoints, %d re-sent copies (from seq %d), %d redelivered by the broker",
		cursor, v.readings, v.checkpoints, v.dupResent, v.lowestResent, v.dupRedelivered)
	if v.readings != size {
		t.Errorf("upstream has %d readings, want %d", v.readings, size)
	}
	if want := storedCheckpoints(t, g.Store, size); v.checkpoints != len(want) {
		t.Errorf("upstream has %d checkpoints, the store %v", v.checkpoints, want)
	}
	if v.lowestResent >= 0 && v.lowestResent < cursor {
		t.Errorf("reading %d was sent again, below the recorded cursor %d", v.lowestResent, cursor)
	}
}
