package gethnode

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestNode funds an address, restarts geth on the same data directory and
// ports, and finds the balance and the developer account still there.
func TestNode(t *testing.T) {
	n, err := Start(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	var id string
	if err := n.Call(ctx, &id, "eth_chainId"); err != nil {
		t.Fatal(err)
	}
	if id != "0x539" || n.ChainID() != 1337 {
		t.Fatalf("chain id %s / %d, want 0x539 / 1337", id, n.ChainID())
	}
	unknownTx := func() {
		t.Helper()
		var rc json.RawMessage
		if err := n.Call(ctx, &rc, "eth_getTransactionReceipt", "0x"+strings.Repeat("00", 32)); err != nil || string(rc) != "null" {
			t.Fatalf("receipt of an unknown transaction = %s, %v; want null", rc, err)
		}
	}
	unknownTx()
	if !strings.HasPrefix(n.RPC(), "http://127.0.0.1:") {
		t.Errorf("RPC() = %s, want loopback", n.RPC())
	}
	const addr = "0x00000000000000000000000000000000000000aa"
	wei := big.NewInt(1234567)
	if err := n.Fund(ctx, addr, wei); err != nil {
		t.Fatalf("%v\n%s", err, n.Log())
	}
	balance := func() string {
		t.Helper()
		var b string
		if err := n.Call(ctx, &b, "eth_getBalance", addr, "latest"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got, want := balance(), "0x"+wei.Text(16); got != want {
		t.Fatalf("balance %s, want %s", got, want)
	}

	port := n.HTTPPort
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := n.Call(ctx, nil, "eth_chainId"); err == nil {
		t.Fatal("a stopped node answers")
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if n.HTTPPort != port {
		t.Fatalf("restarted on port %d, was %d", n.HTTPPort, port)
	}
	unknownTx()
	if got, want := balance(), "0x"+wei.Text(16); got != want {
		t.Fatalf("after restart: balance %s, want %s\n%s", got, want, n.Log())
	}
	// The developer account survives the restart, funded and unlocked.
	if err := n.Fund(ctx, addr, wei); err != nil {
		t.Fatalf("fund after restart: %v\n%s", err, n.Log())
	}
	if got, want := balance(), "0x"+new(big.Int).Lsh(wei, 1).Text(16); got != want {
		t.Fatalf("balance %s, want %s", got, want)
	}
	if !strings.Contains(n.Log(), "HTTP server started") {
		t.Errorf("the log lacks geth's start lines:\n%s", lastBytes(n.Log()))
	}
}

// TestPeriod: with --dev.period 1 geth makes blocks without transactions.
func TestPeriod(t *testing.T) {
	n, err := Start(t.TempDir(), Options{Period: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var h string
		if err := n.Call(ctx, &h, "eth_blockNumber"); err != nil {
			t.Fatal(err)
		}
		if h != "0x0" && h != "0x1" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still at block %s after 20 s\n%s", h, lastBytes(n.Log()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(t.TempDir(), Options{Period: 1500 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "whole number of seconds") {
		t.Errorf("period 1.5 s: %v", err)
	}
	t.Setenv("TALLY_GETH", "/nonexistent/geth")
	_, err := Start(t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), Install) {
		t.Errorf("missing geth: %v, want the install step", err)
	}
}
