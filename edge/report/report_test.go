package report_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/report"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"

	_ "github.com/mattn/go-sqlite3" // to tamper with the database
)

const (
	container = "CSQU3054383"
	other     = "MSKU9070323" // another container on the same gateway
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func f(v float64) *float64 { return &v }

// stream is a small voyage: GPS fixes, two reefer probes (one crossing
// the -15 °C limit, one constant), a seal going sealed → opened, a reading
// of another container, a gateway event without a container and a
// condition event whose evidence is the excursion.
type stream struct {
	seqs map[string][]int64 // sensor -> seqs
}

func feed(t *testing.T, g *testgw.Gateway) stream {
	t.Helper()
	ctx := context.Background()
	s := stream{seqs: map[string][]int64{}}
	accept := func(r sensors.Reading) int64 {
		t.Helper()
		res := g.Pipeline.AcceptResult(ctx, r)
		if res.Err != nil || res.Duplicate {
			t.Fatalf("accept %s: %+v", r.Sensor, res)
		}
		s.seqs[r.Sensor] = append(s.seqs[r.Sensor], res.Seq)
		return res.Seq
	}
	reefer1 := []float64{-18, -18, -12, -10, -18, -18}
	for i := range 6 {
		m := i * 10
		accept(sensors.Reading{Sensor: "gps-1", Kind: sensors.KindGPS, Time: at(m), Clock: sensors.ClockGPS, Container: container,
			Data: map[string]any{"lat": 31.0 + float64(i)*0.1, "lon": 122.0 + float64(i)*0.2, "speed_mps": 8.2}})
		accept(sensors.Reading{Sensor: "reefer-1", Kind: sensors.KindTemperature, Time: at(m), Clock: sensors.ClockDevice, Container: container,
			Data: map[string]any{"celsius": reefer1[i], "probe": "supply"}})
		accept(sensors.Reading{Sensor: "reefer-2", Kind: sensors.KindTemperature, Time: at(m), Clock: sensors.ClockDevice, Container: container,
			Data: map[string]any{"celsius": 4.0, "probe": "return"}})
		if i == 0 {
			accept(sensors.Reading{Sensor: "seal-1", Kind: sensors.KindSeal, Time: at(m), Clock: sensors.ClockDevice, Container: container,
				MsgID: "S1:1", Data: map[string]any{"seal_id": "S1", "state": sensors.SealSealed, "event": "sealed"}})
		}
	}
	accept(sensors.Reading{Sensor: "seal-1", Kind: sensors.KindSeal, Time: at(55), Clock: sensors.ClockDevice, Container: container,
		MsgID: "S1:2", Data: map[string]any{"seal_id": "S1", "state": sensors.SealOpened, "event": "opened", "lat": 31.5, "lon": 123.0}})
	// Another container's reading: not in the report.
	accept(sensors.Reading{Sensor: "reefer-9", Kind: sensors.KindTemperature, Time: at(30), Clock: sensors.ClockDevice, Container: other,
		Data: map[string]any{"celsius": 30.0}})
	// A gateway reading without a container: in the report only when the
	// gateway is configured for this container. No sensor time: its time
	// is the receive time.
	accept(sensors.Reading{Sensor: "gateway", Kind: sensors.KindStatus, Data: map[string]any{"detail": "port back"}})
	// The condition event: evidence is reefer-1's readings at 20 and 40 min.
	r1 := s.seqs["reefer-1"]
	accept(sensors.Reading{Sensor: "rules", Kind: sensors.KindEvent, Container: container, MsgID: "frozen/x", Data: map[string]any{
		"rule": "frozen", "kind": "temperature_excursion", "sensor": "reefer-1",
		"detail":   `reefer-1 above -15 °C for 20m <script>alert("x")</script>`,
		"from_seq": r1[2], "to_seq": r1[4], "max_c": -10.0, "at": at(20).Format(time.RFC3339Nano),
		"readings": map[string]any{"reefer-1": int64(2)}}})
	return s
}

func TestBuild(t *testing.T) {
	g := testgw.New(t, ingest.Config{Gateway: "gw-report", CheckpointInterval: time.Hour})
	s := feed(t, g)
	pub := g.Keys.Ed25519.Public().(ed25519.PublicKey)
	opts := report.Options{
		Container: container, GatewayContainer: container,
		Limits:       map[string]report.Limit{"reefer-1": {AboveC: f(-15)}},
		DefaultLimit: report.Limit{AboveC: f(8), BelowC: f(2)},
		Now:          t0.Add(48 * time.Hour),
	}
	ctx := context.Background()

	// Before any checkpoint: nothing is covered.
	r, err := report.Build(ctx, g.Store, pub, g.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Coverage.Covered || r.Coverage.Checkpoint != nil || r.Coverage.Uncovered != r.Readings {
		t.Fatalf("coverage before any checkpoint: %+v", r.Coverage)
	}

	// Stop signs the final checkpoint; the report is then covered.
	g.Stop(t)
	st := g.OpenStore(t)
	r, err = report.Build(ctx, st, pub, g.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Coverage.Covered || r.Coverage.Checkpoint == nil || r.Coverage.Checkpoint.Size <= r.Seq.Last || r.Coverage.Uncovered != 0 {
		t.Fatalf("coverage after the checkpoint: %+v (seq %+v)", r.Coverage, r.Seq)
	}
	if r.Coverage.Anchor.Anchored || r.Coverage.Anchor.Status != report.NotAnchored {
		t.Fatalf("anchor: %+v", r.Coverage.Anchor)
	}

	// What is in the report: 6 gps + 12 temperatures + 2 seals + the
	// gateway's status reading + the event; not the other container's.
	if r.Readings != 22 || r.Kinds["gps"] != 6 || r.Kinds["temperature"] != 12 || r.Kinds["seal"] != 2 || r.Kinds["event"] != 1 || r.Kinds["status"] != 1 {
		t.Fatalf("readings %d kinds %v", r.Readings, r.Kinds)
	}
	if len(r.Route) != 6 || r.Route[0].Lat != 31.0 || r.Route[5].Lon != 123.0 || *r.Route[0].SpeedMPS != 8.2 || !r.Route[0].Time.Equal(t0) {
		t.Fatalf("route %+v", r.Route)
	}
	if len(r.Temperatures) != 2 || r.Temperatures[0].Sensor != "reefer-1" || r.Temperatures[1].Sensor != "reefer-2" {
		t.Fatalf("temperature series %+v", r.Temperatures)
	}
	if len(r.Seals) != 2 || r.Seals[0].State != "sealed" || r.Seals[1].State != "opened" || r.Seals[1].Lat == nil || r.Seals[1].SealID != "S1" {
		t.Fatalf("seals %+v", r.Seals)
	}
	if len(r.Events) != 1 {
		t.Fatalf("events %+v", r.Events)
	}
	ev := r.Events[0]
	r1 := s.seqs["reefer-1"]
	if ev.Rule != "frozen" || ev.Kind != "temperature_excursion" || ev.Sensor != "reefer-1" || *ev.FromSeq != r1[2] || *ev.ToSeq != r1[4] ||
		ev.Values["max_c"] != -10.0 || !ev.Time.Equal(at(20)) || ev.Seq != s.seqs["rules"][0] {
		t.Fatalf("event %+v", ev)
	}

	// reefer-1: above -15 °C from the reading at 20 min to the one back
	// below at 40 min, 1200 s on the intervals between readings.
	a := r.Temperatures[0]
	if a.AboveC == nil || *a.AboveC != -15 || a.BelowC != nil {
		t.Fatalf("reefer-1 limits %v %v", a.AboveC, a.BelowC)
	}
	cc := a.ColdChain
	if cc == nil || cc.Samples != 6 || cc.MinC != -18 || cc.MaxC != -10 || cc.AboveS == nil || cc.BelowS != nil {
		t.Fatalf("reefer-1 cold chain %+v", cc)
	}
	if *cc.AboveS != 1200 {
		t.Errorf("reefer-1 time above -15 °C = %v s, want 1200", *cc.AboveS)
	}
	// Time-weighted: every reading holds 10 min (the last one for the
	// median interval, edge/conditions' rule).
	if want := (-18 - 18 - 12 - 10 - 18 - 18) / 6.0; math.Abs(cc.MeanC-want) > 1e-9 || cc.SpanS != 3600 {
		t.Errorf("reefer-1 mean %v over %v s, want %v over 3600 s", cc.MeanC, cc.SpanS, want)
	}
	if !(cc.MKTC > cc.MeanC && cc.MKTC < cc.MaxC) {
		t.Errorf("reefer-1 MKT %v not between the mean %v and the max %v", cc.MKTC, cc.MeanC, cc.MaxC)
	}
	if len(a.Excursions) != 1 || a.Excursions[0].FromSeq != r1[2] || a.Excursions[0].ToSeq != r1[4] || a.Excursions[0].PeakC != -10 ||
		a.Excursions[0].To.Sub(a.Excursions[0].From) != 20*time.Minute || a.Excursions[0].Open {
		t.Fatalf("reefer-1 excursions %+v", a.Excursions)
	}

	// reefer-2 takes the default limits; the MKT of a constant series is
	// that temperature.
	b := r.Temperatures[1]
	if b.ColdChain == nil || math.Abs(b.ColdChain.MKTC-4) > 1e-9 || b.ColdChain.MeanC != 4 || *b.ColdChain.AboveS != 0 || *b.ColdChain.BelowS != 0 || b.Probe != "return" {
		t.Fatalf("reefer-2 %+v cold chain %+v", b, b.ColdChain)
	}

	// JSON: snake_case names and RFC 3339 UTC times.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"format":"tally-voyage-report/1"`, `"container":"CSQU3054383"`, `"first_reading":"2026-03-01T00:00:00Z"`,
		`"mkt_c":4`, `"above_s":1200`, `"covered":true`, `"status":"not anchored: no ledger receipt yet"`, `"from_seq":`, `"speed_mps":8.2`, `"readings":{"reefer-1":2}`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}

	// The gateway is configured for another container: readings without
	// one are not this container's.
	opts.GatewayContainer = other
	r2, err := report.Build(ctx, st, pub, g.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Readings != 21 || r2.Kinds["status"] != 0 {
		t.Fatalf("with gateway container %s: %d readings %v", other, r2.Readings, r2.Kinds)
	}

	// A window keeps readings by their time.
	opts.GatewayContainer = container
	opts.From, opts.To = at(15), at(35)
	r3, err := report.Build(ctx, st, pub, g.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Route) != 2 || len(r3.Temperatures[0].Points) != 2 || len(r3.Seals) != 0 || len(r3.Events) != 1 {
		t.Fatalf("window 15–35 min: route %d, temps %d, seals %d, events %d", len(r3.Route), len(r3.Temperatures[0].Points), len(r3.Seals), len(r3.Events))
	}
}

func TestHTML(t *testing.T) {
	g := testgw.New(t, ingest.Config{Gateway: "gw-report"})
	feed(t, g)
	g.Stop(t)
	st := g.OpenStore(t)
	pub := g.Keys.Ed25519.Public().(ed25519.PublicKey)
	r, err := report.Build(context.Background(), st, pub, g.ID, report.Options{Container: container, GatewayContainer: container,
		Limits: map[string]report.Limit{"reefer-1": {AboveC: f(-15)}}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.HTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if dir := os.Getenv("TALLY_ARTIFACTS"); dir != "" {
		// For people to look at: the page of the hand-built stream, with
		// an event on the route and the chart.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "report-unit.html"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{`id="route"`, `id="temp-chart-reefer-1"`, `id="temp-chart-reefer-2"`, `id="events"`, `id="seals"`, `id="cold-chain"`,
		`<polyline class="route"`, `<polyline class="series"`, `class="limit"`, `class="excursion"`, `class="evline"`, "limit above -15.0 °C",
		"tally export --seq", "tally verify", "readings = {reefer-1: 2}", "not anchored: no ledger receipt yet", "CSQU3054383",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	evidence := "seq " + itoa(r.Events[0].FromSeq) + "–" + itoa(r.Events[0].ToSeq)
	if !strings.Contains(page, evidence) {
		t.Errorf("page lacks the evidence range %q", evidence)
	}
	for _, bad := range []string{"<script", "http://", "https://", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must be self-contained and script-free", bad)
		}
	}
}

func TestBuildRejectsTamperedReading(t *testing.T) {
	g := testgw.New(t, ingest.Config{Gateway: "gw-report"})
	feed(t, g)
	g.Stop(t)
	db, err := sql.Open("sqlite3", filepath.Join(g.Dir, "tally.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Flip one payload byte of reading 3.
	var env []byte
	if err := db.QueryRow(`SELECT envelope FROM readings WHERE seq = 3`).Scan(&env); err != nil {
		t.Fatal(err)
	}
	env[40] ^= 1
	if _, err := db.Exec(`UPDATE readings SET envelope = ? WHERE seq = 3`, env); err != nil {
		t.Fatal(err)
	}
	st := g.OpenStore(t)
	pub := g.Keys.Ed25519.Public().(ed25519.PublicKey)
	_, err = report.Build(context.Background(), st, pub, g.ID, report.Options{Container: container})
	if err == nil || !strings.Contains(err.Error(), "reading 3") {
		t.Fatalf("tampered reading: %v", err)
	}
}

func TestBuildRejectsBadContainer(t *testing.T) {
	g := testgw.New(t, ingest.Config{})
	_, err := report.Build(context.Background(), g.Store, g.Keys.Ed25519.Public().(ed25519.PublicKey), g.ID, report.Options{Container: "CSQU3054384"})
	if err == nil {
		t.Fatal("container with a wrong check digit accepted")
	}
}

func itoa(p *int64) string { return strconv.FormatInt(*p, 10) }
