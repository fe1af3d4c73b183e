package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tallygw/tally/edge/bench"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("bench", stderr)
	fs.Lookup("config").Usage = "ignored: the bench writes its own gateway configuration"
	fs.Lookup("data").Usage = "directory in which the bench makes its fresh, temporary data directory (database, keys): put it on the gateway's data disk, whose fsync is part of every commit (default $TMPDIR or /tmp)"
	brokerF := fs.String("broker", "mosquitto", "mosquitto (started on a free loopback port), embedded (tally's broker, in this process) or tcp://host:port of a broker taking anonymous clients")
	publishers := fs.Int("publishers", 4, "publishing MQTT clients")
	rate := fs.Float64("rate", 0, "target messages/s over all publishers; 0: flat out")
	duration := fs.Duration("duration", 10*time.Second, "publishing time of each phase (baseline, then tally)")
	drain := fs.Duration("drain", 5*time.Second, "after publishing, how long a consumer may still take what is queued for it; the rest is reported")
	qos := fs.Int("qos", 1, "MQTT QoS of publications and subscriptions")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	separate := fs.Bool("separate-publishers", true, "run the publishers in a child process (this binary, bench --publish-only), so that the gateway's memory and CPU profile are its own")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the gateway phase's publishing window to `FILE`")
	logLevel := fs.String("log-level", "warn", "level of the gateway's log on stderr: debug, info, warn, error")
	publishOnly := fs.Bool("publish-only", false, "internal: be the publishers of a parent tally bench (configuration as JSON on stdin)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *publishOnly {
		return bench.ServePublisher(ctx, os.Stdin, stdout)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError("--log-level %q: not debug, info, warn or error", *logLevel)
	}
	o := bench.Options{
		Broker: *brokerF, Publishers: *publishers, Rate: *rate, Duration: *duration, Drain: *drain, QoS: *qos, Dir: c.data,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Progress: stderr,
	}
	if *separate {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable to run the publishers (or pass --separate-publishers=false): %w", err)
		}
		o.PublisherCommand = []string{exe, "bench", "--publish-only"}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		o.CPUProfile = f
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted
		}
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBench(stdout, res)
	return nil
}

// printBench prints a result for a person.
func printBench(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	rate := "flat out"
	if r.RateTarget > 0 {
		rate = fmt.Sprintf("%s msg/s", thousands(r.RateTarget))
	}
	inflight := fmt.Sprintf("subscriber max_inflight %d", r.SubscriberInflight)
	if r.BrokerMaxInflight > 0 {
		inflight += fmt.Sprintf(", broker max_inflight_messages %d", r.BrokerMaxInflight)
	}
	row("broker", "%s, %s (%s)", r.Broker, r.BrokerVersion, r.BrokerURL)
	row("publishers", "%d (%s), QoS %d, %s", r.Publishers, r.PublisherProcess, r.QoS, inflight)
	row("rate target", "%s", rate)
	row("duration", "%gs per phase, drain ≤ %gs", r.DurationSeconds, r.DrainSeconds)
	row("gateway data", "fresh directory and keys under %s", r.DataDir)
	row("load average", "%s before, %s after (%d CPUs)", loadString(r.LoadStart), loadString(r.LoadEnd), r.CPUs)
	fmt.Fprintln(tw)
	b, t := r.Baseline, r.Tally
	row("", "baseline (bare paho)\ttally (signed, durable, acked)")
	row("published msg/s", "%s\t%s", thousands(b.Publishing.Rate), thousands(t.Publishing.Rate))
	row("consumed /s", "%s msg/s\t%s readings/s", thousands(b.MsgsPerS), thousands(t.ReadingsPerS))
	if b.BacklogPerS > 0 || t.BacklogPerS > 0 {
		row("consumed /s, backlog, publishers idle", "%s\t%s", thousands(b.BacklogPerS), thousands(t.BacklogPerS))
	}
	row("ratio tally/baseline", "\t%.1f %%", 100*r.Ratio)
	row("latency publish→accepted", "\tp50 %s, p99 %s, max %s ms (%s samples)", ms(t.Latency.P50), ms(t.Latency.P99), ms(t.Latency.Max), thousands(float64(t.Latency.Samples)))
	row("RSS", "\t%.1f MiB peak, %.1f MiB idle", t.Memory.Peak, t.Memory.Idle)
	row("", "\t(%s)", t.Memory.Includes)
	row("readings stored", "\t%s (accepted %s, duplicates %d, refused %d, quarantined %d)", thousands(float64(t.Stored)), thousands(float64(t.Accepted)), t.Duplicates, t.Refused, t.Quarantined)
	row("not consumed by the end (queued or dropped)", "%s of %s\t%s of %s", thousands(float64(b.NotReceived)), thousands(float64(b.Publishing.Published)), thousands(float64(t.NotAccepted)), thousands(float64(t.Publishing.Published)))
	if b.Publishing.Failed+b.Publishing.Unconfirmed+t.Publishing.Failed+t.Publishing.Unconfirmed > 0 {
		row("publish failed/unconfirmed", "%d/%d\t%d/%d", b.Publishing.Failed, b.Publishing.Unconfirmed, t.Publishing.Failed, t.Publishing.Unconfirmed)
	}
	row("CPU cores: this process", "%.2f (%s µs a message)\t%.2f (%s µs a reading)", b.CPU.ThisProcess, perItem(b.CPU.ThisProcess, b.MsgsPerS), t.CPU.ThisProcess, perItem(t.CPU.ThisProcess, t.ReadingsPerS))
	row("CPU cores: publishers", "%s\t%s", cores(b.CPU.Publishers), cores(t.CPU.Publishers))
	row("CPU cores: broker", "%s\t%s", cores(b.CPU.Broker), cores(t.CPU.Broker))
	row("CPU cores: other processes", "%s\t%s", cores(b.CPU.Others), cores(t.CPU.Others))
	row("CPU cores: machine, all", "%.2f of %d\t%.2f of %d", b.CPU.Machine, r.CPUs, t.CPU.Machine, r.CPUs)
	tw.Flush()
	if r.BrokerLog != "" {
		fmt.Fprintf(w, "\nthe broker logged:\n%s", r.BrokerLog)
	}
}

// perItem is CPU microseconds per item at the given cores and rate.
func perItem(cores, perSecond float64) string {
	if perSecond <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", cores*1e6/perSecond)
}

func cores(c *float64) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *c)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func loadString(l []float64) string {
	if len(l) < 3 {
		return "?"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

// thousands formats v rounded to a whole number with thousands separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
