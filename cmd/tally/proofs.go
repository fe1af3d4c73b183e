package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/export"
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
	b, err := export.Bundle(ctx, st, pub, seq)
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
	genesis := fs.String("genesis", "", "CometBFT: pin the chain id and validator set of this genesis.json")
	valsHash := fs.String("validators-hash", "", "CometBFT: pin this validator set hash (hex) instead of a genesis file")
	chainID := fs.String("chain-id", "", "pin the ledger's chain id (CometBFT chain id, or the EVM chain id in decimal)")
	sender := fs.String("sender", "", "EVM: pin the address the gateway anchors from")
	online := fs.String("online", "", "also read the anchor tx again from this ledger node's RPC URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: tally verify [--keys FILE] [--genesis FILE | --validators-hash HEX] [--chain-id ID] [--sender ADDR] [--online URL] BUNDLE.json")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	var opts bundle.Options
	b, derr := bundle.Decode(raw)
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
	if opts.Trust, err = trustFlags(*genesis, *valsHash, *chainID, *sender); err != nil {
		return err
	}
	// An EVM chain id pin is decimal (FORMATS.md §5.1); a CometBFT one is
	// any string, so it can only be judged once the bundle names its ledger.
	// Its range is checked at step "chain id".
	if derr == nil && b.Anchor != nil && b.Anchor.Receipt.Ledger == evm.Kind && *chainID != "" && !evm.IsDecimal(*chainID) {
		return usageError("--chain-id %q: the bundle is anchored on an EVM chain, whose chain id is decimal digits without leading zeros", *chainID)
	}
	opts.Online, opts.Context = *online, ctx
	var steps []bundle.Step
	var verr error
	if derr != nil {
		// A bundle that does not decode fails the first step, reported
		// like any other.
		steps = []bundle.Step{{Name: "format", OK: false, Detail: derr.Error()}}
		verr = &bundle.StepError{Step: "format", Err: derr}
	} else {
		steps, verr = bundle.Verify(b, opts)
	}
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
	trust, err := configTrust(cfg)
	if err != nil {
		return err
	}
	anchors, err := audit.Anchors(ctx, st, trust)
	if err != nil {
		return &exitError{code: 1, msg: "audit FAILED: " + err.Error()}
	}
	fmt.Fprintf(stdout, "audit passed: %d readings (signatures, payloads, seq 0..%d without holes), %d tree hashes, %d checkpoints (Ed25519 + ML-DSA-65, roots recomputed), %d ledger anchors (evidence checked offline); root %x; %s\n",
		rep.Readings, rep.Readings-1, rep.TreeHashes, rep.Checkpoints, anchors, rep.Root[:], time.Since(start).Round(time.Millisecond))
	return nil
}

// trustFlags builds the ledger trust root an auditor pins on the command line.
func trustFlags(genesis, valsHash, chainID, sender string) (ledger.Trust, error) {
	var t ledger.Trust
	if genesis != "" {
		if valsHash != "" {
			return t, usageError("--genesis and --validators-hash both pin the validator set: give one")
		}
		g, err := cometbft.TrustFromGenesis(genesis)
		if err != nil {
			return t, err
		}
		if chainID != "" && chainID != g.ChainID {
			return t, usageError("--chain-id %q is not the genesis file's chain %q", chainID, g.ChainID)
		}
		t = g
	}
	if valsHash != "" {
		h, err := hex.DecodeString(valsHash)
		if err != nil || len(h) != 32 {
			return t, usageError("--validators-hash %q is not 64 hex digits", valsHash)
		}
		t.ValidatorsHash = h
	}
	if chainID != "" {
		t.ChainID = chainID
	}
	if sender != "" {
		if _, err := evm.ParseAddress(sender); err != nil {
			return t, usageError("--sender: %v", err)
		}
	}
	t.Sender = sender
	return t, nil
}

// configTrust is the ledger trust root the gateway's own config pins.
func configTrust(cfg *config.Config) (ledger.Trust, error) {
	if cfg.Anchor == nil || cfg.Anchor.CometBFT == nil {
		return ledger.Trust{}, nil
	}
	return edge.CometBFTTrust(cfg.Anchor.CometBFT)
}
