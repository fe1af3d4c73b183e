// Package cometbft anchors checkpoints on a CometBFT chain and verifies the
// receipts offline: the anchor transaction's inclusion proof against the
// block's data hash, the block header signed by more than 2/3 of the voting
// power of a validator set pinned by the auditor (its hash from the chain's
// genesis or the consortium's config).
//
// The transaction is the ledger-neutral payload (ledger.Render); the default
// format suits CometBFT's stock kvstore app.
package cometbft

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
)

// Kind is the ledger kind this package anchors on.
const Kind = "cometbft"

// Config configures the backend.
type Config struct {
	RPC      string        // the node's RPC address, http://host:26657
	ChainID  string        // when set, the node's network must be this chain
	TxFormat string        // ledger.Render template; "" = ledger.DefaultTxFormat
	Timeout  time.Duration // per RPC call; default 10 s
	// Trust, when set, is checked against the node's evidence before a
	// receipt is called final, so a node that lies is caught at once.
	Trust ledger.Trust
}

// Backend anchors on one CometBFT node's RPC.
type Backend struct {
	cfg Config
	c   *client

	mu      sync.Mutex
	chainID string // the node's network, checked once
}

// New returns a backend; it does not contact the node.
func New(cfg Config) (*Backend, error) {
	if cfg.TxFormat == "" {
		cfg.TxFormat = ledger.DefaultTxFormat
	}
	if err := ledger.ValidateFormat(cfg.TxFormat); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	c, err := newClient(cfg.RPC, &http.Client{Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, c: c}, nil
}

// Kind implements ledger.Backend.
func (b *Backend) Kind() string { return Kind }

// Close implements ledger.Backend.
func (b *Backend) Close() error { b.c.http.CloseIdleConnections(); return nil }

// Network asks the node for its chain id (once) and checks it against the
// configured one.
func (b *Backend) Network(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.chainID != "" {
		return b.chainID, nil
	}
	var st struct {
		NodeInfo struct {
			Network string `json:"network"`
		} `json:"node_info"`
	}
	if err := b.c.call(ctx, "status", nil, &st); err != nil {
		return "", err
	}
	if b.cfg.ChainID != "" && st.NodeInfo.Network != b.cfg.ChainID {
		return "", fmt.Errorf("the node at %s is on chain %q, not the configured anchor.cometbft.chain_id %q", b.cfg.RPC, st.NodeInfo.Network, b.cfg.ChainID)
	}
	b.chainID = st.NodeInfo.Network
	return b.chainID, nil
}

// Prepare implements ledger.Backend: the tx is the rendered payload, its id
// the SHA-256 CometBFT names transactions by.
func (b *Backend) Prepare(ctx context.Context, a ledger.Anchored, prev *ledger.Submission) (*ledger.Submission, error) {
	tx, err := ledger.Render(b.cfg.TxFormat, a)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(tx)
	return &ledger.Submission{Ledger: Kind, TxID: hex.EncodeToString(sum[:]), Raw: tx, TxFormat: b.cfg.TxFormat}, nil
}

// Broadcast implements ledger.Backend with broadcast_tx_sync: the node runs
// the app's CheckTx and puts the tx in its mempool.
func (b *Backend) Broadcast(ctx context.Context, s *ledger.Submission) error {
	if _, err := b.Network(ctx); err != nil {
		return err
	}
	var res struct {
		Code      uint32 `json:"code"`
		Log       string `json:"log"`
		Codespace string `json:"codespace"`
	}
	err := b.c.call(ctx, "broadcast_tx_sync", url.Values{"tx": {hexParam(s.Raw)}}, &res)
	if isInCache(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("the chain's app refused the anchor tx (CheckTx code %d %s: %s); check anchor.tx_format against the app's tx rules", res.Code, res.Codespace, res.Log)
	}
	return nil
}

// Check implements ledger.Backend. A committed tx comes back Final with the
// receipt: the tx proof, the signed header of its block, and the validator
// set that signed it, as the node's RPC returned them.
func (b *Backend) Check(ctx context.Context, s *ledger.Submission) (ledger.State, *ledger.Receipt, error) {
	chainID, err := b.Network(ctx)
	if err != nil {
		return ledger.Unknown, nil, err
	}
	txid, err := hex.DecodeString(s.TxID)
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("submission tx id %q is not hex", s.TxID)
	}
	var tr struct {
		Height   num `json:"height"`
		TxResult struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"tx_result"`
		Proof json.RawMessage `json:"proof"`
	}
	err = b.c.call(ctx, "tx", url.Values{"hash": {hexParam(txid)}, "prove": {"true"}}, &tr)
	if isNotFound(err) {
		in, err := b.inMempool(ctx, s.Raw)
		if err != nil {
			return ledger.Unknown, nil, err
		}
		if in {
			return ledger.Pending, nil, nil
		}
		return ledger.Unknown, nil, nil
	}
	if err != nil {
		return ledger.Unknown, nil, err
	}
	height := int64(tr.Height)
	if tr.TxResult.Code != 0 {
		return ledger.Unknown, nil, fmt.Errorf("the anchor tx is in block %d but the app rejected it (code %d: %s)", height, tr.TxResult.Code, tr.TxResult.Log)
	}
	var cr struct {
		SignedHeader json.RawMessage `json:"signed_header"`
	}
	if err := b.c.call(ctx, "commit", heightParam(height), &cr); err != nil {
		return ledger.Unknown, nil, err
	}
	vals, err := b.validators(ctx, height)
	if err != nil {
		return ledger.Unknown, nil, err
	}
	raw, err := json.Marshal(Evidence{SignedHeader: cr.SignedHeader, Validators: vals, TxProof: tr.Proof})
	if err != nil {
		return ledger.Unknown, nil, err
	}
	var sh signedHeader
	if err := json.Unmarshal(cr.SignedHeader, &sh); err != nil || sh.Header == nil {
		return ledger.Unknown, nil, fmt.Errorf("the node's signed header for height %d is unreadable: %v", height, err)
	}
	bh, err := sh.Header.hash()
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("the node's header for height %d: %w", height, err)
	}
	format := s.TxFormat
	if format == "" {
		format = b.cfg.TxFormat
	}
	r := &ledger.Receipt{
		Ledger: Kind, Network: chainID, TxID: s.TxID, Height: height,
		BlockHash: hex.EncodeToString(bh), BlockTime: sh.Header.Time.UTC(),
		TxFormat: format, Payload: s.Raw, Evidence: raw,
	}
	// Check the evidence as an auditor will before calling it final.
	var steps ledger.Steps
	if err := Verify(&steps, r, b.cfg.Trust); err != nil {
		return ledger.Unknown, nil, fmt.Errorf("the node's evidence for block %d does not verify: %w", height, err)
	}
	return ledger.Final, r, nil
}

// inMempool reports whether the node's mempool holds tx.
func (b *Backend) inMempool(ctx context.Context, tx []byte) (bool, error) {
	var res struct {
		Txs [][]byte `json:"txs"`
	}
	if err := b.c.call(ctx, "unconfirmed_txs", url.Values{"limit": {"100"}}, &res); err != nil {
		return false, err
	}
	for _, t := range res.Txs {
		if bytes.Equal(t, tx) {
			return true, nil
		}
	}
	return false, nil
}

// validators returns the whole validator set at height, page by page.
func (b *Backend) validators(ctx context.Context, height int64) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for page := 1; ; page++ {
		var res struct {
			Validators []json.RawMessage `json:"validators"`
			Total      num               `json:"total"`
		}
		q := heightParam(height)
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", "100")
		if err := b.c.call(ctx, "validators", q, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Validators...)
		if int64(len(all)) >= int64(res.Total) || len(res.Validators) == 0 {
			return all, nil
		}
	}
}

// VerifyOnline reads the anchor tx again from a node ("ledger online"): it
// must be in the receipt's block, and that block must have the receipt's
// hash on the node's chain.
func VerifyOnline(ctx context.Context, s *ledger.Steps, r *ledger.Receipt, rpc string) error {
	c, err := newClient(rpc, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return s.Fail("ledger online", err)
	}
	var st struct {
		NodeInfo struct {
			Network string `json:"network"`
		} `json:"node_info"`
	}
	if err := c.call(ctx, "status", nil, &st); err != nil {
		return s.Fail("ledger online", err)
	}
	if st.NodeInfo.Network != r.Network {
		return s.Fail("ledger online", fmt.Errorf("the node at %s is on chain %q, the receipt on %q", rpc, st.NodeInfo.Network, r.Network))
	}
	txid, err := hex.DecodeString(r.TxID)
	if err != nil {
		return s.Fail("ledger online", fmt.Errorf("tx id %q is not hex", r.TxID))
	}
	var tr struct {
		Height num    `json:"height"`
		Tx     []byte `json:"tx"`
	}
	if err := c.call(ctx, "tx", url.Values{"hash": {hexParam(txid)}}, &tr); err != nil {
		return s.Fail("ledger online", fmt.Errorf("the node at %s does not have tx %s: %w", rpc, r.TxID, err))
	}
	if int64(tr.Height) != r.Height || !bytes.Equal(tr.Tx, r.Payload) {
		return s.Fail("ledger online", fmt.Errorf("the node has tx %s in block %d, the receipt says block %d", r.TxID, tr.Height, r.Height))
	}
	var cr struct {
		SignedHeader signedHeader `json:"signed_header"`
	}
	if err := c.call(ctx, "commit", heightParam(r.Height), &cr); err != nil {
		return s.Fail("ledger online", err)
	}
	var bh []byte
	if h := cr.SignedHeader.Header; h != nil {
		bh, _ = h.hash()
	}
	if bh == nil || !strings.EqualFold(hex.EncodeToString(bh), r.BlockHash) {
		return s.Fail("ledger online", fmt.Errorf("block %d on the node at %s is not the receipt's block %s", r.Height, rpc, r.BlockHash))
	}
	s.OK("ledger online", "the node at %s (chain %s) has tx %s in block %d with hash %s", rpc, r.Network, r.TxID, r.Height, r.BlockHash)
	return nil
}
