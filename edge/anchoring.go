package edge

import (
	"encoding/hex"
	"fmt"

	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/config"
)

// NewBackend builds the configured ledger backend, or nil for none.
func NewBackend(cfg *config.Config) (ledger.Backend, error) {
	a := cfg.Anchor
	if a == nil {
		return nil, nil
	}
	switch a.Backend {
	case "cometbft":
		b := a.CometBFT
		trust, err := CometBFTTrust(b)
		if err != nil {
			return nil, err
		}
		// trust.ChainID is the configured chain id, else the genesis file's.
		return cometbft.New(cometbft.Config{RPC: b.RPC, ChainID: trust.ChainID, TxFormat: a.TxFormat, Timeout: b.Timeout.D(), Trust: trust})
	case "evm":
		e := a.EVM
		key, err := evm.LoadKey(cfg.Path(e.Key))
		if err != nil {
			return nil, fmt.Errorf("anchor.evm.key: %w (create one with: tally keygen --evm --config %s)", err, cfg.File())
		}
		return evm.New(evm.Config{RPC: e.RPC, ChainID: e.ChainID, Key: key, To: e.To, GasPrice: e.GasPriceWei(),
			GasLimit: e.GasLimit, Confirmations: e.Confirmations, TxFormat: a.TxFormat, Timeout: e.Timeout.D()})
	}
	return nil, nil
}

// CometBFTTrust is the trust root the cometbft section pins: the genesis
// file's chain id and validator set, or the configured hash.
func CometBFTTrust(b *config.AnchorCometBFT) (ledger.Trust, error) {
	t := ledger.Trust{ChainID: b.ChainID}
	if b.Genesis != "" {
		g, err := cometbft.TrustFromGenesis(b.Genesis)
		if err != nil {
			return t, fmt.Errorf("anchor.cometbft.genesis: %w", err)
		}
		if t.ChainID != "" && t.ChainID != g.ChainID {
			return t, fmt.Errorf("anchor.cometbft.chain_id %q is not the genesis file's chain %q", t.ChainID, g.ChainID)
		}
		return g, nil
	}
	if b.ValidatorsHash != "" {
		t.ValidatorsHash, _ = hex.DecodeString(b.ValidatorsHash)
	}
	return t, nil
}
