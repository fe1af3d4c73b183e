// Command tally is the gateway: the daemon (tally run) and the commands a
// technician or auditor uses around it. Run `tally help` for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ex *exitError
		if errors.As(err, &ex) {
			if ex.msg != "" {
				fmt.Fprintln(os.Stderr, "tally:", ex.msg)
			}
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "tally:", err)
		os.Exit(1)
	}
}

// exitError carries a specific exit code (2 for usage errors).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the gateway daemon", cmdRun},
		{"demo", "keygen, run with simulated sensors, audit, export and verify: the whole spine in one command", cmdDemo},
		{"keygen", "create the gateway's Ed25519 and ML-DSA-65 keys, or with --evm its ledger key (mode 0600; never overwrites)", cmdKeygen},
		{"id", "print the gateway's public keys, key IDs and log origin", cmdID},
		{"status", "ask the running daemon how it is doing", cmdStatus},
		{"anchor", "ask the running daemon to anchor its newest checkpoint on the ledger now", cmdAnchor},
		{"export", "write the proof bundle of one reading (stdout, or --out FILE)", cmdExport},
		{"verify", "check a proof bundle offline and print every step", cmdVerify},
		{"ports", "list serial ports with USB vendor/product ids and /dev/serial/by-id links", cmdPorts},
		{"probe", "open a serial port, detect the baud rate, print decoded readings live", cmdProbe},
		{"decode", "decode a capture file offline: one JSON reading per line", cmdDecode},
		{"audit", "re-verify the whole store: signatures, tree hashes, checkpoints", cmdAudit},
		{"report", "voyage report for a container: route, temperatures, seals, events, MKT, coverage (JSON or HTML)", cmdReport},
		{"bench", "end-to-end MQTT throughput and latency against a real broker, with a bare-consumer baseline", cmdBench},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	printUsage(stderr)
	return usageError("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: tally COMMAND [--config FILE] [--data DIR] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (default /etc/tally/tally.yaml) and --data DIR")
	fmt.Fprintln(w, "(overrides data_dir: database and keys). `tally COMMAND -h` lists a command's flags.")
}
