package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// TestReportOfSimulatedVoyage records the whole simulated voyage (with its
// reefer power failure and the seal opening at the berth), renders the
// report as JSON and HTML, and loads the page in headless Chromium: the
// rendered DOM must hold the route, a temperature chart with its limit
// line, and the events table. The screenshot goes to $TALLY_ARTIFACTS
// (else a temporary directory) for people to look at.
func TestReportOfSimulatedVoyage(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s not found: the report test renders the page in headless Chromium; install it with: apt-get install -y chromium", chromium)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tally.yaml")
	// 10 ms rounds of 5 hours of voyage each: the 28-day voyage, arrival
	// and the seal opening in about 1.5 s, leaving room for a slow disk in
	// the 4 s run. The reefer power failure lasts a day so that several
	// readings fall in it.
	y := fmt.Sprintf(`gateway:
  id: gw-report-01
  container: CSQU3054383
http:
  listen: %s
checkpoint:
  interval: 300ms
  max_readings: 500
shutdown:
  timeout: 5s
sensors:
  - id: voyage
    driver: sim
    sim:
      interval: 10ms
      time_factor: 1800000
      seed: 7
      excursion:
        start: 0.6
        duration: 24h
        peak_c: 8
conditions:
  zones:
    - {name: Rotterdam, circle: {lat: 51.96, lon: 4.05, radius_m: 15000}}
  rules:
    - {name: reefer-too-warm, type: temperature, sensors: [voyage-reefer], above_c: -15, duration: 2h, max_gap: 12h}
    - {name: seal-opened, type: seal, sensors: [voyage-seal], allowed_zones: [Rotterdam], position_sensors: [voyage-gps], max_position_age: 24h}
`, freePort(t))
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	mustTally(t, "keygen", "--config", cfg, "--data", dir)
	mustTally(t, "run", "--config", cfg, "--data", dir, "--for", "4s")

	// JSON.
	// The limit comes from the temperature rule of the config.
	js := mustTally(t, "report", "--config", cfg, "--data", dir, "--format", "json")
	var rep struct {
		Container string `json:"container"`
		Readings  int64  `json:"readings"`
		Route     []struct {
			Lat, Lon float64
		} `json:"route"`
		Temperatures []struct {
			Sensor     string   `json:"sensor"`
			AboveC     *float64 `json:"above_c"`
			Excursions []struct {
				PeakC float64 `json:"peak_c"`
			} `json:"excursions"`
			ColdChain *struct {
				MaxC   float64  `json:"max_c"`
				MKTC   float64  `json:"mkt_c"`
				AboveS *float64 `json:"above_s"`
			} `json:"cold_chain"`
		} `json:"temperatures"`
		Seals []struct {
			State string `json:"state"`
		} `json:"seals"`
		Events []struct {
			Seq  int64  `json:"seq"`
			Kind string `json:"kind"`
		} `json:"events"`
		Coverage struct {
			Covered bool `json:"covered"`
			Anchor  struct {
				Status string `json:"status"`
			} `json:"anchor"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%.2000s", err, js)
	}
	if rep.Container != "CSQU3054383" || len(rep.Route) < 100 || len(rep.Temperatures) != 1 || len(rep.Seals) < 2 {
		t.Fatalf("report of %s: %d readings, %d fixes, %d temperature series, %d seal readings", rep.Container, rep.Readings, len(rep.Route), len(rep.Temperatures), len(rep.Seals))
	}
	if s := rep.Seals; s[0].State != "sealed" || s[len(s)-1].State != "opened" {
		t.Fatalf("seal history does not go from sealed to opened: first %q, last %q (did the voyage reach the berth?)", s[0].State, s[len(s)-1].State)
	}
	temp := rep.Temperatures[0]
	if temp.AboveC == nil || *temp.AboveC != -15 || len(temp.Excursions) != 1 || temp.Excursions[0].PeakC < -15 {
		t.Fatalf("%s: limit %v, excursions %+v: want the one reefer power failure above -15 °C", temp.Sensor, temp.AboveC, temp.Excursions)
	}
	if cc := temp.ColdChain; cc == nil || cc.AboveS == nil || *cc.AboveS <= 0 || cc.MaxC < -15 || cc.MKTC > cc.MaxC {
		t.Fatalf("%s cold chain: %+v", temp.Sensor, cc)
	}
	if !rep.Coverage.Covered || rep.Coverage.Anchor.Status != "not anchored: no ledger receipt yet" {
		t.Fatalf("coverage after shutdown: %+v", rep.Coverage)
	}
	// The rules fired; every event verifies like any other reading.
	kinds := map[string]int{}
	for _, ev := range rep.Events {
		kinds[ev.Kind]++
		b := filepath.Join(dir, fmt.Sprintf("event-%d.json", ev.Seq))
		mustTally(t, "export", "--config", cfg, "--data", dir, "--seq", fmt.Sprint(ev.Seq), "--out", b)
		if v := mustTally(t, "verify", b); !strings.Contains(v, "bundle verified") {
			t.Fatalf("event %d (%s) does not verify:\n%s", ev.Seq, ev.Kind, v)
		}
	}
	if kinds["temperature_excursion"] != 1 || kinds["seal_change"] != 2 || kinds["seal_breach"] != 0 {
		t.Fatalf("events by kind %v: want one excursion, two seal changes (sealed, opened in Rotterdam), no breach", kinds)
	}

	// HTML, into the artifacts directory.
	art := os.Getenv("TALLY_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	} else if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(art, "report.html")
	mustTally(t, "report", "--config", cfg, "--data", dir, "--container", "CSQU3054383", "--format", "html", "--out", page, "--above-c", "-15")
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "http://", "https://", "src="} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("report page contains %q: it must be self-contained and need no script", bad)
		}
	}

	dom := headless(t, "--dump-dom", "file://"+page)
	for _, want := range []string{`id="route"`, `<polyline class="route"`, `id="temp-chart-voyage-reefer"`, `<polyline class="series"`,
		`class="limit"`, "limit above -15.0 °C", `class="excursion"`, `id="events"`, `id="seals"`, `id="cold-chain"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if len(rep.Events) > 0 {
		if !strings.Contains(dom, `<tr class="event">`) {
			t.Errorf("the report has %d events but the rendered events table has no event row", len(rep.Events))
		}
	} else if !strings.Contains(dom, "No condition events were recorded") {
		t.Errorf("the report has no events and the events table does not say so")
	}

	png := filepath.Join(art, "report-screenshot.png")
	headless(t, "--window-size=1280,2000", "--screenshot="+png, "file://"+page)
	st, err := os.Stat(png)
	if err != nil || st.Size() < 10<<10 {
		t.Fatalf("screenshot %s: %v (%d bytes); want a PNG over 10 KB", png, err, sizeOf(st))
	}
	t.Logf("report page %s, screenshot %s (%d KB)", page, png, st.Size()>>10)

	// Usage errors.
	if r := tally(t, "report", "--config", cfg, "--data", dir, "--container", "CSQU3054384"); r.code != 2 || !strings.Contains(r.stderr, "CSQU3054384") {
		t.Fatalf("bad check digit: %+v", r)
	}
	if r := tally(t, "report", "--config", cfg, "--data", dir, "--format", "pdf"); r.code != 2 {
		t.Fatalf("--format pdf: %+v", r)
	}
	if r := tally(t, "report", "--config", cfg, "--data", dir, "--from", "yesterday"); r.code != 2 || !strings.Contains(r.stderr, "RFC 3339") {
		t.Fatalf("--from yesterday: %+v", r)
	}
}

// headless runs Chromium headless on a closed network and returns its
// standard output. The flags keep it from reaching for the network (it
// would hang) and from needing a GPU or a sandbox.
func headless(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp("", "tally-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}
