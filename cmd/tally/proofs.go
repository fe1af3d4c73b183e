package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/store"
)

// openStore opens an existing store; it never creates one.
func openStore(cfg *config.Config) (*store.Store, error) {
	path := cfg.Path(cfg.Store.Path)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: has this gateway run yet? (check --data / data_dir)", path)
	}
	return store.Open(path, cfg.Origin(), store.Options{QuarantineMax: cfg.Store.QuarantineMax})
}

// exportBundle builds the proof bundle of reading seq against the latest checkpoint.
func exportBundle(ctx context.Context, st *store.Store, pub checkpoint.Keys, seq int64) (*bundle.Bundle, error) {
	cp, err := st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no checkpoint yet: the daemon signs one every checkpoint.interval, every checkpoint.max_readings readings and at shutdown")
	}
	if err != nil {
		return nil, err
	}
	if seq < 0 || seq >= cp.Size {
		if seq >= 0 && seq < st.Size() {
			return nil, fmt.Errorf("reading %d is not yet covered by a checkpoint (latest covers 0..%d); wait for the next checkpoint", seq, cp.Size-1)
		}
		return nil, fmt.Errorf("there is no reading %d: the log holds 0..%d", seq, st.Size()-1)
	}
	env, err := st.Envelope(ctx, seq)
	if err != nil {
		return nil, err
	}
	proof, err := st.InclusionProof(ctx, seq, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof for %d: %w", seq, err)
	}
	pk, err := bundle.NewPublicKeys(pub)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{
		Format: bundle.Format, Origin: pub.Origin, Seq: seq, Envelope: env,
		TreeSize: cp.Size, Checkpoint: string(cp.Note), Keys: pk, Anchor: json.RawMessage("null"),
	}
	for _, h := range proof {
		b.Inclusion = append(b.Inclusion, append([]byte(nil), h[:]...))
	}
	return b, nil
}

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("export", stderr)
	seqFlag := fs.String("seq", "", "the reading's seq (leaf index); 'last' for the newest checkpointed reading")
	out := fs.String("out", "", "write the bundle to this file instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *seqFlag == "" {
		return usageError("export needs --seq N")
	}
	cfg, err := c.load()
	if err != nil {
		return err
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
	var seq int64
	if *seqFlag == "last" {
		cp, err := st.LatestCheckpoint(ctx)
		if err != nil {
			return fmt.Errorf("no checkpoint yet")
		}
		seq = cp.Size - 1
	} else if seq, err = strconv.ParseInt(*seqFlag, 10, 64); err != nil {
		return usageError("--seq %q is not a number", *seqFlag)
	}
	b, err := exportBundle(ctx, st, pub, seq)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *out == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	fmt.Fprintf(stderr, "wrote proof bundle for reading %d (checkpoint size %d) to %s\n", seq, b.TreeSize, *out)
	return nil
}

func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("verify", stderr)
	keysFile := fs.String("keys", "", "pin the gateway's keys: the JSON of `tally id --json` as registered with the consortium")
	asJSON := fs.Bool("json", false, "print the steps as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: tally verify [--keys FILE] BUNDLE.json")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	b, err := bundle.Decode(raw)
	if err != nil {
		return err
	}
	var opts bundle.Options
	if *keysFile != "" {
		kraw, err := os.ReadFile(*keysFile)
		if err != nil {
			return fmt.Errorf("read pinned keys: %w", err)
		}
		var id identity
		if err := json.Unmarshal(kraw, &id); err != nil {
			return fmt.Errorf("pinned keys %s: not the JSON of tally id --json: %w", *keysFile, err)
		}
		opts.Pinned = &id.PublicKeys
		opts.PinnedOrigin = id.Origin
	}
	steps, verr := bundle.Verify(b, opts)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"ok": verr == nil, "steps": steps})
	} else {
		printSteps(stdout, steps)
	}
	if verr != nil {
		return &exitError{code: 1, msg: "verification FAILED at " + verr.Error()}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "bundle verified: reading %d of %s\n", b.Seq, b.Origin)
	}
	return nil
}

func printSteps(w io.Writer, steps []bundle.Step) {
	for _, s := range steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %-22s %s\n", mark, s.Name, s.Detail)
	}
}

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("audit", stderr)
	quiet := fs.Bool("q", false, "no progress output")
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
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
	start := time.Now()
	last := time.Now()
	progress := func(done, total int64) {
		if !*quiet && time.Since(last) > 2*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "audit: %d/%d readings checked\n", done, total)
		}
	}
	rep, err := audit.Run(ctx, st, pub, cfg.Gateway.ID, progress)
	if err != nil {
		return &exitError{code: 1, msg: "audit FAILED: " + err.Error()}
	}
	fmt.Fprintf(stdout, "audit passed: %d readings (signatures, payloads, seq 0..%d without holes), %d tree hashes, %d checkpoints (Ed25519 + ML-DSA-65, roots recomputed); root %x; %s\n",
		rep.Readings, rep.Readings-1, rep.TreeHashes, rep.Checkpoints, rep.Root[:], time.Since(start).Round(time.Millisecond))
	return nil
}
