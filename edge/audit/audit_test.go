package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
)

const n = 300

// filled returns a stopped gateway with n readings and several checkpoints.
func filled(t *testing.T) *testgw.Gateway {
	g := testgw.New(t, ingest.Config{CheckpointMax: 100, MaxBatch: 64})
	ctx := context.Background()
	for i := range n {
		r := sensors.Reading{Sensor: "reefer-1", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": -18.5 + float64(i%7)/10}}
		if err := g.Pipeline.Accept(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	g.Stop(t)
	return g
}

// tamper edits the database directly, as an attacker with the disk would.
func tamper(t *testing.T, g *testgw.Gateway, stmts ...string) {
	db, err := sql.Open("sqlite3", filepath.Join(g.Dir, "tally.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestAuditPassesUntouched(t *testing.T) {
	g := filled(t)
	rep, err := audit.Run(context.Background(), g.OpenStore(t), g.Pub, g.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Readings != n || rep.Checkpoints != 3 {
		t.Fatalf("report %+v", rep)
	}
}

func TestAuditNamesTampering(t *testing.T) {
	// The envelope's last bytes are the Ed25519 signature; a byte in the
	// middle is in the payload.
	flip := func(seq, off int) string {
		return fmt.Sprintf(`UPDATE readings SET envelope = substr(envelope, 1, %[2]d) || CAST(char((unicode(substr(CAST(envelope AS TEXT), %[2]d+1, 1)) + 1) %% 128) AS BLOB) || substr(envelope, %[2]d+2) WHERE seq = %[1]d`, seq, off)
	}
	cases := []struct {
		name       string
		stmts      []string
		seq        int64
		checkpoint int64
		reason     string
	}{
		{"payload byte", []string{flip(137, 40)}, 137, -1, ""},
		{"signature byte", []string{`UPDATE readings SET envelope = substr(envelope, 1, length(envelope)-1) || X'00' WHERE seq = 42 AND substr(envelope, -1) != X'00'`,
			`UPDATE readings SET envelope = substr(envelope, 1, length(envelope)-1) || X'01' WHERE seq = 42 AND substr(envelope, -1) = X'00'`}, 42, -1, "signature"},
		{"deleted row", []string{`DELETE FROM readings WHERE seq = 200`}, 200, -1, "missing"},
		{"deleted last row", []string{`DELETE FROM readings WHERE seq = 299`}, -1, 300, "covers 300 readings"},
		{"reordered rows", []string{`UPDATE readings SET seq = -1 WHERE seq = 10`, `UPDATE readings SET seq = 10 WHERE seq = 11`, `UPDATE readings SET seq = 11 WHERE seq = -1`}, 10, -1, "signed for seq 11"},
		{"edited checkpoint size", []string{`UPDATE checkpoints SET note = replace(CAST(note AS TEXT), char(10) || '200' || char(10), char(10) || '201' || char(10)) WHERE size = 200`}, -1, 200, "does not verify"},
		{"edited checkpoint root", []string{`UPDATE checkpoints SET note = CAST(replace(CAST(note AS TEXT), substr(CAST(note AS TEXT), instr(CAST(note AS TEXT), char(10)||'100'||char(10))+5, 4), 'AAAA') AS BLOB) WHERE size = 100`}, -1, 100, "does not verify"},
		{"column edited", []string{`UPDATE readings SET sensor = 'reefer-2' WHERE seq = 5`}, 5, -1, "differ from the signed envelope"},
		{"hashes edited", []string{`UPDATE readings SET hashes = zeroblob(length(hashes)) WHERE seq = 63`}, 63, -1, "tree hashes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := filled(t)
			tamper(t, g, tc.stmts...)
			_, err := audit.Run(context.Background(), g.OpenStore(t), g.Pub, g.ID, nil)
			var f *audit.Failure
			if !errors.As(err, &f) {
				t.Fatalf("audit passed or failed oddly after tampering: %v", err)
			}
			if f.Seq != tc.seq || f.Checkpoint != tc.checkpoint || !strings.Contains(f.Reason, tc.reason) {
				t.Fatalf("got %v (seq %d, checkpoint %d), want seq %d checkpoint %d reason containing %q", f, f.Seq, f.Checkpoint, tc.seq, tc.checkpoint, tc.reason)
			}
		})
	}
}

func TestDaemonRefusesToExtendTamperedLog(t *testing.T) {
	for name, stmt := range map[string]string{
		"tail deleted":  `DELETE FROM readings WHERE seq = 299`,
		"hashes edited": `UPDATE readings SET hashes = zeroblob(length(hashes)) WHERE seq = 255`,
	} {
		t.Run(name, func(t *testing.T) {
			g := filled(t)
			tamper(t, g, stmt)
			st := g.OpenStore(t)
			p := ingest.New(ingest.Config{Gateway: g.ID}, st, nil, mustSigner(t, g), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			err := p.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), "run tally audit") {
				t.Fatalf("pipeline started on a tampered log: %v", err)
			}
		})
	}
}

func mustSigner(t *testing.T, g *testgw.Gateway) *checkpoint.Signer {
	s, err := checkpoint.NewSigner("tally/"+g.ID, g.Keys.Ed25519, g.Keys.MLDSA65)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
