package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/store"
)

func TestOriginBindingMigrationsCursorQuarantine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	st, err := store.Open(path, "tally/gw-a", store.Options{QuarantineMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Cursors persist.
	if pos, err := st.Cursor(ctx, "uplink"); err != nil || pos != 0 {
		t.Fatalf("fresh cursor %d %v", pos, err)
	}
	if err := st.SetCursor(ctx, "uplink", 42, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The quarantine keeps the newest QuarantineMax rows and counts all.
	for i := range 5 {
		if err := st.Quarantine(ctx, time.Now(), "gps-1", "bad checksum", []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := st.RecentQuarantine(ctx, 10)
	if err != nil || len(q) != 3 || string(q[0].Raw) != "e" || string(q[2].Raw) != "c" {
		t.Fatalf("quarantine %+v %v", q, err)
	}
	sensors, _ := st.Sensors(ctx)
	if len(sensors) != 1 || sensors[0].Quarantined != 5 {
		t.Fatalf("sensor counters %+v", sensors)
	}
	st.Close()
	st.Close() // idempotent

	// Reopening migrates nothing and keeps the cursor.
	st, err = store.Open(path, "tally/gw-a", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pos, _ := st.Cursor(ctx, "uplink"); pos != 42 {
		t.Fatalf("cursor after reopen %d", pos)
	}
	st.Close()

	// Another gateway's database is refused, with what to do.
	if _, err := store.Open(path, "tally/gw-b", store.Options{}); err == nil || !strings.Contains(err.Error(), `belongs to "tally/gw-a"`) {
		t.Fatalf("opened another gateway's database: %v", err)
	}
}

func TestAppendRefusesWrongSeq(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "tally.db"), "tally/gw-a", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Append(context.Background(), []store.Entry{{Seq: 1, Sensor: "s", Kind: "k", Envelope: []byte("x")}})
	if err == nil || st.Size() != 0 {
		t.Fatalf("appended seq 1 to an empty log: %v", err)
	}
}
