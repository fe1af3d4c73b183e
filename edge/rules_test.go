package edge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/testpty"
)

// TestConditionEventSurvivesRestart: a thermometer on a pty goes above the
// limit; the daemon is restarted in the middle of the excursion; the
// excursion event is appended exactly once, signed like any reading, with
// the seq range of the readings that caused it.
func TestConditionEventSurvivesRestart(t *testing.T) {
	p := testpty.New(t)
	d := start(t, fmt.Sprintf(`gateway:
  id: gw-rules
http:
  listen: "off"
sensors:
  - id: hold
    driver: lines
    serial:
      port: %s
      read_timeout: 100ms
      reconnect_min: 50ms
      reconnect_max: 100ms
    lines:
      pattern: '^T=(?P<t>[-+]?\d+(\.\d+)?)C$'
      kind: temperature
      fields:
        t: {name: celsius}
conditions:
  rules:
    - name: hold-warm
      type: temperature
      sensors: [hold]
      above_c: 8
      duration: 2500ms
      hysteresis_c: 0.5
      max_gap: 5s
`, p.Path))
	send := func(c float64, n int) {
		for range n {
			fmt.Fprintf(p.Master, "T=%.1fC\r\n", c)
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	send(4, 3)
	send(9.5, 6) // 0.5 s into the excursion
	time.Sleep(400 * time.Millisecond)
	first := d.stop(t)
	for _, pl := range first {
		if pl.Kind == "event" && pl.Data["kind"] == "temperature_excursion" {
			t.Fatalf("excursion fired before its duration: %+v (recv %d)", pl.Data, pl.RecvUS)
		}
	}
	d = run(t, d.cfg)
	time.Sleep(300 * time.Millisecond)
	send(9.5, 25) // past 2.5 s in total
	send(4, 3)    // back below the limit minus hysteresis
	time.Sleep(800 * time.Millisecond)
	all := d.stop(t)

	var starts, ends int
	for _, pl := range all {
		if pl.Kind != "event" {
			continue
		}
		switch pl.Data["kind"] {
		case "temperature_excursion":
			starts++
			from, _ := pl.Data["from_seq"].(int64)
			to, _ := pl.Data["to_seq"].(int64)
			if from < 0 || to <= from || to >= int64(pl.Seq) {
				t.Fatalf("evidence range %d..%d for event at seq %d", from, to, pl.Seq)
			}
			if all[from].Kind != "temperature" || all[from].Data["celsius"] != 9.5 {
				t.Fatalf("evidence starts at %+v", all[from])
			}
		case "temperature_excursion_end":
			ends++
		}
	}
	if starts != 1 || ends != 1 {
		t.Fatalf("%d excursion events and %d end events after a restart mid-excursion, want exactly 1 and 1", starts, ends)
	}
}
