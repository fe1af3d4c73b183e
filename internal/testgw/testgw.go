// Package testgw builds small real gateways for tests: keys in a temporary
// directory, a real SQLite store and a running ingest pipeline.
package testgw

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/edge/store"
)

// Gateway is a test gateway.
type Gateway struct {
	ID       string
	Dir      string
	Keys     *keys.Set
	Pub      checkpoint.Keys
	Store    *store.Store
	Pipeline *ingest.Pipeline
	done     chan error
}

// New creates keys and a store in a temporary directory and starts the
// pipeline. Stop (or test cleanup) closes it.
func New(tb testing.TB, cfg ingest.Config) *Gateway {
	tb.Helper()
	dir := tb.TempDir()
	if cfg.Gateway == "" {
		cfg.Gateway = "gw-test"
	}
	ks, err := keys.Generate(filepath.Join(dir, "ed25519.key"), filepath.Join(dir, "mldsa65.key"))
	if err != nil {
		tb.Fatal(err)
	}
	g := &Gateway{ID: cfg.Gateway, Dir: dir, Keys: ks}
	g.open(tb, cfg)
	return g
}

func (g *Gateway) open(tb testing.TB, cfg ingest.Config) {
	origin := "tally/" + g.ID
	st, err := store.Open(filepath.Join(g.Dir, "tally.db"), origin, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	env, err := envelope.NewSigner(g.Keys.Ed25519)
	if err != nil {
		tb.Fatal(err)
	}
	cps, err := checkpoint.NewSigner(origin, g.Keys.Ed25519, g.Keys.MLDSA65)
	if err != nil {
		tb.Fatal(err)
	}
	g.Pub = cps.Keys()
	g.Store = st
	g.Pipeline = ingest.New(cfg, st, env, cps, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	g.done = make(chan error, 1)
	go func() { g.done <- g.Pipeline.Run(context.Background()) }()
	tb.Cleanup(func() { g.Stop(tb) })
}

// Stop closes intake, waits for the final checkpoint and closes the store.
// Safe to call more than once.
func (g *Gateway) Stop(tb testing.TB) {
	if g.done == nil {
		return
	}
	g.Pipeline.Close()
	if err := <-g.done; err != nil {
		tb.Errorf("pipeline: %v", err)
	}
	g.done = nil
	g.Store.Close()
}

// Reopen stops the gateway and opens it again on the same files.
func (g *Gateway) Reopen(tb testing.TB, cfg ingest.Config) {
	g.Stop(tb)
	if cfg.Gateway == "" {
		cfg.Gateway = g.ID
	}
	g.open(tb, cfg)
}

// OpenStore opens the store again without starting a pipeline (after Stop),
// as tally audit does.
func (g *Gateway) OpenStore(tb testing.TB) *store.Store {
	st, err := store.Open(filepath.Join(g.Dir, "tally.db"), "tally/"+g.ID, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
