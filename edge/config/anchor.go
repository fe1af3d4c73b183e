package config

import (
	"encoding/hex"
	"math/big"
	"net/url"
	"regexp"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
)

// Anchor configures anchoring checkpoints on a ledger (docs/ANCHORING.md).
type Anchor struct {
	Backend    string          `yaml:"backend"`     // none, cometbft or evm
	Interval   Duration        `yaml:"interval"`    // how often the newest checkpoint is anchored
	RetryMax   Duration        `yaml:"retry_max"`   // longest wait between retries during an outage
	StaleAfter Duration        `yaml:"stale_after"` // a tx the ledger has not committed by then is reported
	TxFormat   string          `yaml:"tx_format"`   // payload template (ledger.Render)
	CometBFT   *AnchorCometBFT `yaml:"cometbft"`
	EVM        *AnchorEVM      `yaml:"evm"`
}

// AnchorCometBFT is the cometbft backend's section.
type AnchorCometBFT struct {
	RPC            string   `yaml:"rpc"`             // http://host:26657
	ChainID        string   `yaml:"chain_id"`        // the node must be on this chain
	Genesis        string   `yaml:"genesis"`         // genesis.json: pins chain id and validator set
	ValidatorsHash string   `yaml:"validators_hash"` // or pin the validator set hash (hex) directly
	Timeout        Duration `yaml:"timeout"`         // per RPC call
}

// AnchorEVM is the evm backend's section.
type AnchorEVM struct {
	RPC           string   `yaml:"rpc"`           // http://host:8545
	ChainID       uint64   `yaml:"chain_id"`      // required
	Key           string   `yaml:"key"`           // secp256k1 key file from `tally keygen --evm`, relative to data_dir
	To            string   `yaml:"to"`            // receiving address; default the sender itself
	GasPrice      string   `yaml:"gas_price"`     // "auto" or wei in decimal; 0 for zero-gas permissioned chains
	GasLimit      uint64   `yaml:"gas_limit"`     // 0: estimate
	Confirmations int      `yaml:"confirmations"` // blocks incl. the tx's own
	Timeout       Duration `yaml:"timeout"`       // per RPC call
}

// GasPriceWei returns the configured gas price, nil for "auto".
func (e *AnchorEVM) GasPriceWei() *big.Int {
	if e.GasPrice == "auto" {
		return nil
	}
	v, _ := new(big.Int).SetString(e.GasPrice, 10)
	return v
}

func (c *Config) anchorDefaults() {
	a := c.Anchor
	if a == nil {
		return
	}
	if a.Backend == "" {
		a.Backend = "none"
	}
	if a.Interval == 0 {
		a.Interval = Duration(10 * time.Minute)
	}
	if a.RetryMax == 0 {
		a.RetryMax = Duration(5 * time.Minute)
	}
	if a.StaleAfter == 0 {
		a.StaleAfter = Duration(2 * time.Minute)
	}
	if a.TxFormat == "" {
		a.TxFormat = ledger.DefaultTxFormat
	}
	if b := a.CometBFT; b != nil {
		b.Genesis = c.near(b.Genesis)
		if b.Timeout == 0 {
			b.Timeout = Duration(10 * time.Second)
		}
	}
	if e := a.EVM; e != nil {
		if e.Key == "" {
			e.Key = "evm-secp256k1.key"
		}
		if e.GasPrice == "" {
			e.GasPrice = "auto"
		}
		if e.Confirmations == 0 {
			e.Confirmations = 1
		}
		if e.Timeout == 0 {
			e.Timeout = Duration(10 * time.Second)
		}
	}
}

var evmAddr = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c *Config) validateAnchor() error {
	a := c.Anchor
	if a == nil {
		return nil
	}
	if a.Interval.D() < time.Second {
		return c.Errorf("anchor.interval", "%s is too short: at least 1s", a.Interval.D())
	}
	if a.RetryMax.D() < time.Second {
		return c.Errorf("anchor.retry_max", "%s is too short: at least 1s", a.RetryMax.D())
	}
	if a.StaleAfter.D() < time.Second {
		return c.Errorf("anchor.stale_after", "%s is too short: at least 1s", a.StaleAfter.D())
	}
	if err := ledger.ValidateFormat(a.TxFormat); err != nil {
		return c.Errorf("anchor.tx_format", "%v", err)
	}
	switch a.Backend {
	case "none":
	case "cometbft":
		b := a.CometBFT
		if b == nil {
			return c.Errorf("anchor.backend", "cometbft needs an anchor.cometbft section with rpc")
		}
		if !httpURL(b.RPC) {
			return c.Errorf("anchor.cometbft.rpc", "%q is not an http(s)://host:port URL (the node's RPC, default port 26657)", b.RPC)
		}
		if b.ValidatorsHash != "" {
			if h, err := hex.DecodeString(b.ValidatorsHash); err != nil || len(h) != 32 {
				return c.Errorf("anchor.cometbft.validators_hash", "%q is not 64 hex digits", b.ValidatorsHash)
			}
		}
		if b.Genesis != "" && b.ValidatorsHash != "" {
			return c.Errorf("anchor.cometbft.validators_hash", "set genesis or validators_hash, not both")
		}
	case "evm":
		e := a.EVM
		if e == nil {
			return c.Errorf("anchor.backend", "evm needs an anchor.evm section with rpc and chain_id")
		}
		if !httpURL(e.RPC) {
			return c.Errorf("anchor.evm.rpc", "%q is not an http(s)://host:port URL (the node's JSON-RPC, often port 8545)", e.RPC)
		}
		if e.ChainID == 0 {
			return c.Errorf("anchor.evm.chain_id", "is required (the chain's EIP-155 id, e.g. 1337 for geth --dev)")
		}
		if e.To != "" && !evmAddr.MatchString(e.To) {
			return c.Errorf("anchor.evm.to", "%q is not a 0x-prefixed 20-byte address", e.To)
		}
		if v, ok := new(big.Int).SetString(e.GasPrice, 10); e.GasPrice != "auto" && (!ok || v.Sign() < 0) {
			return c.Errorf("anchor.evm.gas_price", "%q is not auto or a whole number of wei (0 is allowed)", e.GasPrice)
		}
		if e.Confirmations < 1 || e.Confirmations > 1000 {
			return c.Errorf("anchor.evm.confirmations", "%d is out of range 1..1000", e.Confirmations)
		}
	default:
		return c.Errorf("anchor.backend", "%q is not one of none, cometbft, evm", a.Backend)
	}
	if a.Backend != "cometbft" && a.CometBFT != nil {
		return c.Errorf("anchor.cometbft", "is set but anchor.backend is %s", a.Backend)
	}
	if a.Backend != "evm" && a.EVM != nil {
		return c.Errorf("anchor.evm", "is set but anchor.backend is %s", a.Backend)
	}
	return nil
}
