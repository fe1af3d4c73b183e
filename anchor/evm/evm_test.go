package evm

import (
	"context"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
)

func TestNewErrors(t *testing.T) {
	key := goldenKey(t)
	ok := Config{RPC: "http://127.0.0.1:8545", ChainID: 1337, Key: key}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" = accepted
	}{
		{"ok", func(*Config) {}, ""},
		{"https and to", func(c *Config) { c.RPC, c.To = "https://node.example:443/rpc", "0x"+strings.Repeat("ab", 20) }, ""},
		{"to EIP-55", func(c *Config) { c.To = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB" }, ""},
		{"to with a wrong checksum", func(c *Config) { c.To = "0x" + strings.Repeat("aB", 20) }, "neither lower case nor its EIP-55 form 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"},
		{"zero gas price", func(c *Config) { c.GasPrice = new(big.Int) }, ""},
		{"no rpc", func(c *Config) { c.RPC = "" }, "not an http"},
		{"ws rpc", func(c *Config) { c.RPC = "ws://127.0.0.1:8546" }, "not an http"},
		{"password hidden", func(c *Config) { c.RPC = "ftp://user:s3cret@host" }, "xxxxx"},
		{"no chain id", func(c *Config) { c.ChainID = 0 }, "chain id is required"},
		{"no key", func(c *Config) { c.Key = nil }, "not a secp256k1 private key"},
		{"bad to", func(c *Config) { c.To = "0x1234" }, "to: address"},
		{"negative gas price", func(c *Config) { c.GasPrice = big.NewInt(-1) }, "negative"},
		{"negative confirmations", func(c *Config) { c.Confirmations = -1 }, "at least 1"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "not positive"},
		{"format without root", func(c *Config) { c.TxFormat = "tally {size}" }, "must contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			b, err := New(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b.cfg.Confirmations != 1 || b.cfg.TxFormat != ledger.DefaultTxFormat || b.cfg.Timeout != 10*time.Second {
					t.Errorf("defaults not applied: %+v", b.cfg)
				}
				if err := b.Close(); err != nil {
					t.Error(err)
				}
				if err := b.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestUnreachable: with no node, Prepare fails naming the URL (without its
// password) and the call.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := newBackend(t, Config{RPC: "http://tally:s3cret@" + addr, ChainID: 1337, Key: goldenKey(t), Timeout: 2 * time.Second})
	_, err = b.Prepare(context.Background(), anchored(0), nil)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "eth_chainId") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Prepare with no node = %v", err)
	}
	t.Log(err)
}
