package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tallygw/tally/edge"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print the raw JSON of /api/status")
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "off" {
		return fmt.Errorf("http.listen is off in %s: the daemon has no status endpoint", cfg.File())
	}
	url := "http://" + cfg.HTTP.Listen + "/api/status"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from the daemon at %s: %w (is tally running with this config? systemctl status tally)", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status endpoint %s answered %s: %s", url, resp.Status, body)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var st edge.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status endpoint %s: unexpected answer: %w", url, err)
	}
	printStatus(stdout, &st)
	return nil
}

func printStatus(w io.Writer, st *edge.Status) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return st.Now.Sub(t).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(w, "gateway %s (%s), version %s, up %s\n", st.Gateway, st.Origin, st.Version, st.Now.Sub(st.Started).Round(time.Second))
	l := st.Log
	fmt.Fprintf(w, "log:      %d readings; %d queued; accepted %d, duplicates %d, refused %d this run\n", l.Size, l.Queued, l.Accepted, l.Duplicates, l.Refused)
	fmt.Fprintf(w, "checkpoint: size %d, %s; %d readings not yet checkpointed\n", l.CheckpointSize, ago(l.CheckpointAt), l.Uncheckpointed)
	if l.LastError != "" {
		fmt.Fprintf(w, "LAST ERROR: %s\n", l.LastError)
	}
	fmt.Fprintf(w, "disk:     database %s in %s, %s free\n", bytesHuman(st.Disk.DBBytes), st.Disk.DataDir, bytesHuman(st.Disk.FreeBytes))
	if u := st.Uplink; u != nil {
		state := "connected"
		if !u.Connected {
			state = "DISCONNECTED"
		}
		fmt.Fprintf(w, "uplink:   %s to %s; forwarded up to seq %d, backlog %d readings", state, u.Broker, u.Cursor, u.Backlog)
		if u.LastError != "" {
			fmt.Fprintf(w, "; last error: %s", u.LastError)
		}
		fmt.Fprintln(w)
	}
	if a := st.Anchor; a != nil {
		fmt.Fprintf(w, "anchor:   %s, %s; ", a.Backend, a.State)
		if a.LastAnchoredAt != nil {
			fmt.Fprintf(w, "anchored up to size %d %s (tx %s, height %d); ", a.LastAnchoredSize, ago(*a.LastAnchoredAt), a.LastTxID, a.LastHeight)
		} else {
			fmt.Fprint(w, "nothing anchored yet; ")
		}
		fmt.Fprintf(w, "%d readings not yet anchored", a.Backlog)
		if a.Pending != nil {
			fmt.Fprintf(w, "; pending tx %s for size %d (%s, since %s)", a.Pending.TxID, a.Pending.Size, a.Pending.State, ago(a.Pending.Since))
		}
		if a.LastError != "" {
			fmt.Fprintf(w, "; LAST ERROR: %s", a.LastError)
		}
		fmt.Fprintln(w)
	}
	if b := st.Broker; b != nil {
		fmt.Fprintf(w, "broker:   embedded at %s, %d clients", b.URL, b.Clients)
		if b.Dropped > 0 {
			fmt.Fprintf(w, "; DROPPED %d QoS 1/2 messages (a subscriber fell more than 65535 messages behind)", b.Dropped)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "drivers:")
	for _, d := range st.Drivers {
		fmt.Fprintf(w, "  %-16s %-8s %s", d.ID, d.Driver, d.State)
		if d.LastError != "" {
			fmt.Fprintf(w, " (%s)", d.LastError)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "sensors:\n  %-20s %10s %10s %-12s %-10s %6s %6s\n", "SENSOR", "READINGS", "LAST SEQ", "LAST", "KIND", "DUPS", "QUAR")
	for _, s := range st.Sensors {
		last, seq := "never", "-"
		if s.LastReadingAt != nil {
			last = ago(*s.LastReadingAt)
		}
		if s.LastSeq != nil {
			seq = fmt.Sprint(*s.LastSeq)
		}
		fmt.Fprintf(w, "  %-20s %10d %10s %-12s %-10s %6d %6d\n", s.Sensor, s.Readings, seq, last, s.LastKind, s.Duplicates, s.Quarantined)
	}
	if len(st.Quarantine) > 0 {
		fmt.Fprintln(w, "quarantine (newest first):")
		for _, q := range st.Quarantine {
			raw := string(q.Raw)
			if len(raw) > 60 {
				raw = raw[:60] + "…"
			}
			fmt.Fprintf(w, "  %s %-16s %s: %q\n", time.UnixMicro(q.AtUS).UTC().Format(time.RFC3339), q.Sensor, q.Reason, raw)
		}
	}
}

func bytesHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func cmdAnchor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("anchor", stderr)
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "off" {
		return fmt.Errorf("http.listen is off in %s: the daemon cannot be asked", cfg.File())
	}
	url := "http://" + cfg.HTTP.Listen + "/api/anchor"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from the daemon at %s: %w (is tally running with this config?)", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%swatch it with: tally status --config %s\n", body, cfg.File())
	return nil
}
