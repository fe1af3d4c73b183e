package main

import (
	"path"

	"github.com/tallygw/tally/edge/conditions"
	"github.com/tallygw/tally/edge/config"

	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tallygw/tally/edge/report"
	"github.com/tallygw/tally/sensors/iso6346"
)

// optFloat is a float flag that remembers whether it was set.
type optFloat struct{ v *float64 }

func (o *optFloat) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'g', -1, 64)
}

func (o *optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number of °C", s)
	}
	o.v = &v
	return nil
}

// optTime is an RFC 3339 time flag.
type optTime struct{ t time.Time }

func (o *optTime) String() string {
	if o.t.IsZero() {
		return ""
	}
	return o.t.Format(time.RFC3339)
}

func (o *optTime) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time (e.g. 2026-03-01T00:00:00Z)", s)
	}
	o.t = t
	return nil
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("report", stderr)
	container := fs.String("container", "", "ISO 6346 container number (default: gateway.container of the config)")
	var from, to optTime
	fs.Var(&from, "from", "only readings at or after this `RFC3339` time (sensor time, else receive time)")
	fs.Var(&to, "to", "only readings at or before this `RFC3339` time")
	format := fs.String("format", "json", "json or html (one self-contained page: route, temperature charts, seals, events)")
	out := fs.String("out", "", "write the report to this file instead of stdout")
	var above, below optFloat
	fs.Var(&above, "above-c", "limit in `celsius` for every temperature sensor: time at or above it is an excursion")
	fs.Var(&below, "below-c", "limit in `celsius` for every temperature sensor: time at or below it is an excursion")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tally report [--container ID] [--from RFC3339] [--to RFC3339] [--format json|html] [--out FILE] [--above-c C] [--below-c C]")
		fmt.Fprintln(stderr, "\nThe voyage report of one container from this gateway's signed log: route, temperatures")
		fmt.Fprintln(stderr, "with cold-chain figures (min, max, mean, MKT, time beyond the limits), seal history,")
		fmt.Fprintln(stderr, "condition events with their evidence, and checkpoint/anchor coverage. Every reading")
		fmt.Fprintln(stderr, "is signature-checked. Temperature limits come from the config's temperature rules")
		fmt.Fprintln(stderr, "(conditions.rules of type temperature, by sensor); --above-c/--below-c override them")
		fmt.Fprintln(stderr, "for every temperature sensor.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if *container == "" {
		*container = cfg.Gateway.Container
	}
	if *container == "" {
		return usageError("report needs --container ID (gateway.container is not set in %s)", c.config)
	}
	if err := iso6346.Validate(*container); err != nil {
		return usageError("--container %s: %v", *container, err)
	}
	if *format != "json" && *format != "html" {
		return usageError("--format %q: use json or html", *format)
	}
	if !from.t.IsZero() && !to.t.IsZero() && to.t.Before(from.t) {
		return usageError("--to %s is before --from %s", to.String(), from.String())
	}
	_, pub, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := report.Build(ctx, st, pub.Ed25519, cfg.Gateway.ID, report.Options{
		Container: *container, GatewayContainer: cfg.Gateway.Container,
		From: from.t, To: to.t,
		DefaultLimit: report.Limit{AboveC: above.v, BelowC: below.v},
		LimitFor:     ruleLimits(cfg, above.v != nil || below.v != nil),
	})
	if err != nil {
		return err
	}

	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	if *format == "html" {
		err = rep.HTML(bw)
	} else {
		enc := json.NewEncoder(bw)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && f != nil {
		err = f.Close()
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "wrote %s report of %s to %s: %d readings, %d events; %s\n",
			*format, *container, *out, rep.Readings, len(rep.Events), rep.Coverage.Detail)
	}
	return nil
}

// ruleLimits returns the limits of the config's temperature rules by
// sensor, or nil when the command line overrides them.
func ruleLimits(cfg *config.Config, overridden bool) func(string) (report.Limit, bool) {
	if overridden || cfg.Conditions == nil {
		return nil
	}
	return func(sensor string) (report.Limit, bool) {
		var lim report.Limit
		found := false
		for _, r := range cfg.Conditions.Rules {
			if r.Type != conditions.TypeTemperature {
				continue
			}
			for _, pat := range r.Sensors {
				if ok, _ := path.Match(pat, sensor); ok {
					if r.AboveC != nil {
						lim.AboveC = r.AboveC
					}
					if r.BelowC != nil {
						lim.BelowC = r.BelowC
					}
					found = true
				}
			}
		}
		return lim, found
	}
}
