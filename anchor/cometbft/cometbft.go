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
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

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
	return &ledger.Submission{Ledger: Kind, TxID: hex.EncodeToString(sum[:]), Raw: tx}, nil
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
// set that signed it.
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
		Hash     []byte `json:"hash"`
		Height   int64  `json:"height"`
		TxResult struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"tx_result"`
		Tx    types.Tx      `json:"tx"`
		Proof types.TxProof `json:"proof"`
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
	if tr.TxResult.Code != 0 {
		return ledger.Unknown, nil, fmt.Errorf("the anchor tx is in block %d but the app rejected it (code %d: %s)", tr.Height, tr.TxResult.Code, tr.TxResult.Log)
	}
	var cr struct {
		SignedHeader types.SignedHeader `json:"signed_header"`
	}
	if err := b.c.call(ctx, "commit", heightParam(tr.Height), &cr); err != nil {
		return ledger.Unknown, nil, err
	}
	vals, err := b.validators(ctx, tr.Height)
	if err != nil {
		return ledger.Unknown, nil, err
	}
	ev := Evidence{SignedHeader: &cr.SignedHeader, Validators: vals, TxProof: tr.Proof}
	raw, err := cmtjson.Marshal(ev)
	if err != nil {
		return ledger.Unknown, nil, err
	}
	h := cr.SignedHeader.Header
	if h == nil {
		return ledger.Unknown, nil, fmt.Errorf("the node returned no header for height %d", tr.Height)
	}
	r := &ledger.Receipt{
		Ledger: Kind, Network: chainID, TxID: s.TxID, Height: tr.Height,
		BlockHash: hex.EncodeToString(h.Hash()), BlockTime: h.Time.UTC(),
		TxFormat: b.cfg.TxFormat, Payload: s.Raw, Evidence: raw,
	}
	// Check the evidence as an auditor will before calling it final.
	var steps ledger.Steps
	if err := Verify(&steps, r, b.cfg.Trust); err != nil {
		return ledger.Unknown, nil, fmt.Errorf("the node's evidence for block %d does not verify: %w", tr.Height, err)
	}
	return ledger.Final, r, nil
}

// inMempool reports whether the node's mempool holds tx.
func (b *Backend) inMempool(ctx context.Context, tx []byte) (bool, error) {
	var res struct {
		Txs []types.Tx `json:"txs"`
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
func (b *Backend) validators(ctx context.Context, height int64) ([]*types.Validator, error) {
	var all []*types.Validator
	for page := 1; ; page++ {
		var res struct {
			Validators []*types.Validator `json:"validators"`
			Total      int                `json:"total"`
		}
		q := heightParam(height)
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", "100")
		if err := b.c.call(ctx, "validators", q, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Validators...)
		if len(all) >= res.Total || len(res.Validators) == 0 {
			return all, nil
		}
	}
}

// Evidence is the CometBFT evidence a receipt carries, in CometBFT's own
// JSON encoding (as its RPC returns it).
type Evidence struct {
	SignedHeader *types.SignedHeader `json:"signed_header"` // the block's header and the commit for it
	Validators   []*types.Validator  `json:"validators"`    // the validator set at that height
	TxProof      types.TxProof       `json:"tx_proof"`      // the tx's Merkle proof to the header's data hash
}

// TrustFromGenesis returns the trust root of a chain's genesis file: its
// chain id and the hash of its initial validator set.
func TrustFromGenesis(path string) (ledger.Trust, error) {
	doc, err := types.GenesisDocFromFile(path)
	if err != nil {
		return ledger.Trust{}, fmt.Errorf("genesis %s: %w", path, err)
	}
	if len(doc.Validators) == 0 {
		return ledger.Trust{}, fmt.Errorf("genesis %s lists no validators (the app sets them): pin the validator set hash instead", path)
	}
	return ledger.Trust{ChainID: doc.ChainID, ValidatorsHash: doc.ValidatorHash()}, nil
}

// Verify checks a CometBFT receipt's evidence offline, appending the steps
// "chain id", "validator set", "signed header", "commit" and "tx in block".
// Members of trust left empty are taken from the evidence and the step says
// they are NOT pinned.
func Verify(s *ledger.Steps, r *ledger.Receipt, trust ledger.Trust) (err error) {
	defer func() {
		// The evidence is untrusted input; a malformed structure must fail a
		// step, never crash the verifier.
		if p := recover(); p != nil {
			err = s.Fail("signed header", fmt.Errorf("malformed evidence: %v", p))
		}
	}()
	var ev Evidence
	if err := cmtjson.Unmarshal(r.Evidence, &ev); err != nil {
		return s.Fail("chain id", fmt.Errorf("the receipt's evidence is not CometBFT evidence JSON: %w", err))
	}
	if ev.SignedHeader == nil || ev.SignedHeader.Header == nil || ev.SignedHeader.Commit == nil {
		return s.Fail("chain id", errors.New("the receipt's evidence has no signed header"))
	}
	h := ev.SignedHeader.Header

	if h.ChainID != r.Network {
		return s.Fail("chain id", fmt.Errorf("the header is from chain %q, the receipt says %q", h.ChainID, r.Network))
	}
	if trust.ChainID != "" {
		if h.ChainID != trust.ChainID {
			return s.Fail("chain id", fmt.Errorf("the block is from chain %q, not the pinned chain %q", h.ChainID, trust.ChainID))
		}
		s.OK("chain id", "%s (pinned)", h.ChainID)
	} else {
		s.OK("chain id", "%s (NOT pinned: pass the chain's genesis to pin it)", h.ChainID)
	}

	if len(ev.Validators) == 0 {
		return s.Fail("validator set", errors.New("the evidence has no validators"))
	}
	vals, err := newValidatorSet(ev.Validators)
	if err != nil {
		return s.Fail("validator set", err)
	}
	vh := vals.Hash()
	if !bytes.Equal(vh, h.ValidatorsHash) {
		return s.Fail("validator set", fmt.Errorf("the evidence's validators hash to %X, the header names %X", vh, h.ValidatorsHash))
	}
	if len(trust.ValidatorsHash) > 0 {
		if !bytes.Equal(vh, trust.ValidatorsHash) {
			return s.Fail("validator set", fmt.Errorf("the block was signed by validator set %X, not the pinned set %X", vh, trust.ValidatorsHash))
		}
		s.OK("validator set", "%d validators, total power %d, hash %X (pinned)", vals.Size(), vals.TotalVotingPower(), vh)
	} else {
		s.OK("validator set", "%d validators, total power %d, hash %X (NOT pinned: pass the chain's genesis or validator set hash)", vals.Size(), vals.TotalVotingPower(), vh)
	}

	if err := ev.SignedHeader.ValidateBasic(h.ChainID); err != nil {
		return s.Fail("signed header", err)
	}
	bh := h.Hash()
	if r.Height != h.Height || !bytes.EqualFold([]byte(r.BlockHash), []byte(hex.EncodeToString(bh))) {
		return s.Fail("signed header", fmt.Errorf("the receipt names block %d %s, the evidence is block %d %X", r.Height, r.BlockHash, h.Height, bh))
	}
	s.OK("signed header", "block %d, hash %X, time %s; the commit is for this header", h.Height, bh, h.Time.UTC().Format(time.RFC3339))

	if err := vals.VerifyCommitLightAllSignatures(h.ChainID, ev.SignedHeader.Commit.BlockID, h.Height, ev.SignedHeader.Commit); err != nil {
		return s.Fail("commit", fmt.Errorf("the commit is not signed by more than 2/3 of the voting power: %w", err))
	}
	var signed int64
	for i, sig := range ev.SignedHeader.Commit.Signatures {
		if sig.BlockIDFlag == types.BlockIDFlagCommit && i < vals.Size() {
			signed += vals.Validators[i].VotingPower
		}
	}
	s.OK("commit", "signed by %d of %d voting power (more than 2/3), every signature checked", signed, vals.TotalVotingPower())

	p := ev.TxProof
	if err := p.Validate(h.DataHash); err != nil {
		return s.Fail("tx in block", fmt.Errorf("the tx proof does not lead to the block's data hash: %w", err))
	}
	if !bytes.Equal(p.Data, r.Payload) {
		return s.Fail("tx in block", errors.New("the proven tx is not the receipt's payload"))
	}
	if !bytes.EqualFold([]byte(hex.EncodeToString(p.Data.Hash())), []byte(r.TxID)) {
		return s.Fail("tx in block", fmt.Errorf("the tx hashes to %X, the receipt names %s", p.Data.Hash(), r.TxID))
	}
	s.OK("tx in block", "tx %s is tx %d of %d in block %d (Merkle proof to the data hash %X)", r.TxID, p.Proof.Index, p.Proof.Total, h.Height, []byte(h.DataHash))
	return nil
}

// newValidatorSet builds the set as the chain orders it, turning the
// library's panics on bad input (duplicates, bad keys) into errors.
func newValidatorSet(vs []*types.Validator) (set *types.ValidatorSet, err error) {
	for i, v := range vs {
		if v == nil {
			return nil, fmt.Errorf("validator %d is null", i)
		}
		if err := v.ValidateBasic(); err != nil {
			return nil, fmt.Errorf("validator %d: %w", i, err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return types.NewValidatorSet(vs), nil
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
		Height int64    `json:"height"`
		Tx     types.Tx `json:"tx"`
	}
	if err := c.call(ctx, "tx", url.Values{"hash": {hexParam(txid)}}, &tr); err != nil {
		return s.Fail("ledger online", fmt.Errorf("the node at %s does not have tx %s: %w", rpc, r.TxID, err))
	}
	if tr.Height != r.Height || !bytes.Equal(tr.Tx, r.Payload) {
		return s.Fail("ledger online", fmt.Errorf("the node has tx %s in block %d, the receipt says block %d", r.TxID, tr.Height, r.Height))
	}
	var cr struct {
		SignedHeader types.SignedHeader `json:"signed_header"`
	}
	if err := c.call(ctx, "commit", heightParam(r.Height), &cr); err != nil {
		return s.Fail("ledger online", err)
	}
	if cr.SignedHeader.Header == nil || !bytes.EqualFold([]byte(hex.EncodeToString(cr.SignedHeader.Header.Hash())), []byte(r.BlockHash)) {
		return s.Fail("ledger online", fmt.Errorf("block %d on the node at %s is not the receipt's block %s", r.Height, rpc, r.BlockHash))
	}
	s.OK("ledger online", "the node at %s (chain %s) has tx %s in block %d with hash %s", rpc, r.Network, r.TxID, r.Height, r.BlockHash)
	return nil
}
