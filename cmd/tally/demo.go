package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/configs"
	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/anchorer"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/export"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/edge/report"
	"github.com/tallygw/tally/internal/cometnode"
)

// prefixed writes each line with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func prefixed(w io.Writer, prefix string) io.Writer { return &prefixWriter{w, prefix} }

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, line); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("demo", stderr)
	forDur := fs.Duration("for", 30*time.Second, "how long the gateway runs before it is stopped and audited")
	c.data = filepath.Join(os.TempDir(), "tally-demo")
	fs.Lookup("data").DefValue = c.data
	fs.Lookup("config").Usage = "ignored: the demo uses the embedded configs/demo.yaml"
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("create demo directory: %w", err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "== "+format+"\n", args...) }

	// The ledger: a single-validator CometBFT node on loopback, its home
	// kept with the demo's data so later runs extend the same chain.
	say("ledger: CometBFT %s (built once into the user cache if not installed)", cometnode.Version)
	net, err := cometnode.StartSingle(ctx, filepath.Join(c.data, "cometbft"), cometnode.Options{ChainID: "tally-demo", Progress: prefixed(stdout, "== ledger: ")})
	if err != nil {
		return fmt.Errorf("start the demo's CometBFT node: %w", err)
	}
	defer net.Stop()
	node := net.Node(0)
	say("ledger: single-validator CometBFT node (kvstore app) at %s, chain %s, genesis %s", node.RPC(), net.ChainID(), net.Genesis())

	cfgPath := filepath.Join(c.data, "demo.yaml")
	// The copy names its real data directory and the node's RPC address, so
	// later commands need only --config.
	demo := bytes.Replace(configs.Demo, []byte("data_dir: /tmp/tally-demo"), []byte("data_dir: "+c.data), 1)
	demo = bytes.Replace(demo, []byte("rpc: http://127.0.0.1:26657"), []byte("rpc: "+node.RPC()), 1)
	if err := os.WriteFile(cfgPath, demo, 0o644); err != nil {
		return fmt.Errorf("write demo config: %w", err)
	}
	cfg, err := config.Load(cfgPath, c.data)
	if err != nil {
		return err
	}
	say("tally demo: gateway %s, data in %s (config %s)", cfg.Gateway.ID, c.data, cfgPath)
	if _, err := keys.Generate(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65)); err == nil {
		say("keygen: new Ed25519 and ML-DSA-65 keys written (mode 0600)")
	} else if _, lerr := keys.Load(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65)); lerr == nil {
		say("keygen: keys already present, reusing them")
	} else {
		return err
	}

	sys, err := edge.New(cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	say("run: simulated voyage Shanghai → Rotterdam for %s; status at http://%s/api/status (try: tally status --config %s)", *forDur, sys.Addr(), cfgPath)
	runCtx, cancel := context.WithTimeout(ctx, *forDur)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			break wait
		case <-tick.C:
			if st, err := sys.Status(ctx); err == nil {
				anchored := "no ledger"
				if a := st.Anchor; a != nil {
					anchored = fmt.Sprintf("anchored up to %d (%s)", a.LastAnchoredSize, a.State)
					if a.LastError != "" {
						anchored += ", last error: " + a.LastError
					}
				}
				say("status: %d readings, checkpoint at %d, %s, %d sensors", st.Log.Size, st.Log.CheckpointSize, anchored, len(st.Sensors))
			}
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted by the user
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
	rep, err := audit.Run(ctx, st, pub, cfg.Gateway.ID, nil)
	if err != nil {
		return fmt.Errorf("audit FAILED: %w", err)
	}
	say("audit: passed — %d readings, %d tree hashes, %d checkpoints", rep.Readings, rep.TreeHashes, rep.Checkpoints)
	if rep.Readings == 0 {
		return errors.New("the demo recorded no readings")
	}
	// The daemon signed a final checkpoint as it stopped; anchor it too, so
	// every reading is covered.
	be, err := edge.NewBackend(cfg)
	if err != nil {
		return err
	}
	defer be.Close()
	anch := anchorer.New(st, be, newLogger(cfg, stderr).With("component", "anchor"), anchorer.Options{Poll: 100 * time.Millisecond}, nil)
	if err := anch.Once(ctx); err != nil {
		return fmt.Errorf("anchor the final checkpoint: %w", err)
	}
	as := anch.Status()
	trust, err := configTrust(cfg)
	if err != nil {
		return err
	}
	nAnchors, err := audit.Anchors(ctx, st, trust)
	if err != nil {
		return fmt.Errorf("audit of the ledger anchors FAILED: %w", err)
	}
	say("anchor: %d checkpoints anchored on chain %s; the last covers all %d readings (tx %s, block %d); every receipt's evidence checked offline against the genesis validator set",
		nAnchors, net.ChainID(), as.LastAnchoredSize, as.LastTxID, as.LastHeight)
	idPath := filepath.Join(c.data, "gateway-id.json")
	pk, err := bundle.NewPublicKeys(pub)
	if err != nil {
		return err
	}
	idJSON, _ := json.MarshalIndent(identity{Origin: pub.Origin, PublicKeys: pk}, "", "  ")
	if err := os.WriteFile(idPath, idJSON, 0o644); err != nil {
		return err
	}
	for i, seq := range []int64{0, rep.Readings / 2, rep.Readings - 1} {
		b, err := export.Bundle(ctx, st, pub, seq)
		if err != nil {
			return err
		}
		data, _ := json.MarshalIndent(b, "", "  ")
		path := filepath.Join(c.data, fmt.Sprintf("bundle-%d.json", seq))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		opts := bundle.Options{Pinned: &pk, Trust: trust, Context: ctx}
		if i == 2 {
			opts.Online = node.RPC()
		}
		steps, err := bundle.Verify(b, opts)
		if i == 2 || err != nil {
			say("export + verify reading %d (%s), keys pinned from %s, ledger pinned by %s, then checked online:", seq, path, idPath, net.Genesis())
			printSteps(stdout, steps)
		}
		if err != nil {
			return fmt.Errorf("verify reading %d: %w", seq, err)
		}
		say("verify: reading %d verified (%s)", seq, path)
	}
	if cfg.Gateway.Container != "" {
		vr, err := report.Build(ctx, st, pub.Ed25519, cfg.Gateway.ID, report.Options{
			Container: cfg.Gateway.Container, GatewayContainer: cfg.Gateway.Container, LimitFor: ruleLimits(cfg, false)})
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		page := filepath.Join(c.data, "report.html")
		f, err := os.Create(page)
		if err != nil {
			return err
		}
		if err := vr.HTML(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		say("report: %d condition events signed; voyage report for %s in %s (open it in a browser)", len(vr.Events), cfg.Gateway.Container, page)
	}
	say("done. Try: tally verify --keys %s --genesis %s %s", idPath, net.Genesis(), filepath.Join(c.data, fmt.Sprintf("bundle-%d.json", rep.Readings-1)))
	say("ledger: stopping the CometBFT node (its chain stays in %s for the next demo)", filepath.Join(c.data, "cometbft"))
	return nil
}
