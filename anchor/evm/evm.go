// Package evm anchors checkpoints on EVM ledgers (Hyperledger Besu,
// GoQuorum, geth): each anchor is a legacy EIP-155 transaction whose
// calldata is the rendered tx format, by default a zero-value transfer from
// the gateway's own address to itself.
//
// The package speaks JSON-RPC over HTTP itself and builds, signs and decodes
// transactions with go-ethereum's rlp and crypto packages only, to keep the
// gateway binary small. Legacy transactions are accepted by every EVM
// client, with or without EIP-1559, and by permissioned chains that run
// with a zero gas price.
//
// Verify checks a receipt offline; VerifyOnline asks a node again.
package evm

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
)

// Kind is the ledger kind this package implements.
const Kind = "evm"

// Config configures a Backend. New applies the defaults.
type Config struct {
	// RPC is the node's JSON-RPC URL, http://host:port.
	RPC string
	// ChainID is the chain the transactions are signed for. Required: the
	// backend checks it equals the node's eth_chainId before its first
	// transaction.
	ChainID uint64
	// Key is the secp256k1 key anchors are sent from (see LoadKey).
	Key *ecdsa.PrivateKey
	// To is the 0x address that receives the calldata transaction. Empty
	// means the sender itself: a zero-value self-transfer.
	To string
	// GasPrice is the legacy gas price in wei. Nil asks the node
	// (eth_gasPrice) for each transaction; zero is allowed for permissioned
	// chains that charge no gas.
	GasPrice *big.Int
	// GasLimit is the gas limit of each transaction. 0 asks the node
	// (eth_estimateGas) and adds 10%.
	GasLimit uint64
	// Confirmations is the number of blocks, the transaction's own block
	// included, that make it Final. Default 1.
	Confirmations int
	// TxFormat is the ledger.Render template for the calldata. Default
	// ledger.DefaultTxFormat. Submissions record it, and receipts name the
	// submission's format.
	TxFormat string
	// Timeout bounds each RPC call. Default 10 s.
	Timeout time.Duration
}

// validate checks c after defaults are applied. It does no I/O.
func (c *Config) validate() error {
	u, err := url.Parse(c.RPC)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("evm: rpc %q is not an http:// or https:// URL", redact(c.RPC))
	}
	if c.ChainID == 0 {
		return errors.New("evm: chain id is required (the node's eth_chainId, e.g. 1337 for geth --dev)")
	}
	if !isSecp256k1(c.Key) {
		return errors.New("evm: key is not a secp256k1 private key (load one with evm.LoadKey)")
	}
	if c.To != "" {
		if _, err := ParseAddress(c.To); err != nil {
			return fmt.Errorf("evm: to: %w", err)
		}
	}
	if c.GasPrice != nil && c.GasPrice.Sign() < 0 {
		return fmt.Errorf("evm: gas price %s is negative", c.GasPrice)
	}
	if c.Confirmations < 1 {
		return fmt.Errorf("evm: confirmations %d: at least 1 (the block holding the transaction)", c.Confirmations)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("evm: timeout %s is not positive", c.Timeout)
	}
	if err := ledger.ValidateFormat(c.TxFormat); err != nil {
		return fmt.Errorf("evm: %w", err)
	}
	return nil
}

// Backend anchors on one EVM chain from one key. It implements
// ledger.Backend.
type Backend struct {
	cfg  Config
	rpc  *client
	from [20]byte
	to   [20]byte

	chainMu sync.Mutex // guards chainOK
	chainOK bool       // the node's eth_chainId equals cfg.ChainID

	mu     sync.Mutex // guards next and synced, and is held while a nonce is chosen
	next   uint64     // the nonce the next fresh Prepare takes
	synced bool       // next was read from the node (false at start and after "nonce too low")
}

var _ ledger.Backend = (*Backend)(nil)

// New returns a Backend for cfg, with defaults applied. It does no I/O:
// the chain id is checked against the node on first use, so a gateway
// starts while its ledger is unreachable.
func New(cfg Config) (*Backend, error) {
	if cfg.Confirmations == 0 {
		cfg.Confirmations = 1
	}
	if cfg.TxFormat == "" {
		cfg.TxFormat = ledger.DefaultTxFormat
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.GasPrice != nil {
		cfg.GasPrice = new(big.Int).Set(cfg.GasPrice)
	}
	b := &Backend{
		cfg:  cfg,
		rpc:  newClient(cfg.RPC, cfg.Timeout),
		from: addressOf(cfg.Key),
	}
	b.to = b.from
	if cfg.To != "" {
		to, err := ParseAddress(cfg.To)
		if err != nil {
			return nil, fmt.Errorf("evm: to: %w", err)
		}
		b.to = to
	}
	return b, nil
}

// Kind returns "evm".
func (b *Backend) Kind() string { return Kind }

// Sender is the address anchors are sent from, EIP-55 checksummed.
func (b *Backend) Sender() string { return checksum(b.from) }

// Close releases idle connections. It may be called more than once.
func (b *Backend) Close() error {
	b.rpc.close()
	return nil
}

// ChainMismatchError is returned when the node's chain is not the
// configured one.
type ChainMismatchError struct {
	RPC        string // the node's URL, without a password
	Configured uint64
	Node       uint64
}

func (e *ChainMismatchError) Error() string {
	return fmt.Sprintf("evm: the node at %s serves chain id %d, but the config says %d: point rpc at the right node or fix chain_id", e.RPC, e.Node, e.Configured)
}

// checkChain makes sure, once, that the node serves cfg.ChainID.
func (b *Backend) checkChain(ctx context.Context) error {
	b.chainMu.Lock()
	defer b.chainMu.Unlock()
	if b.chainOK {
		return nil
	}
	id, err := b.rpc.chainID(ctx)
	if err != nil {
		return fmt.Errorf("evm: ask the node for its chain id: %w", err)
	}
	if id != b.cfg.ChainID {
		return &ChainMismatchError{RPC: b.rpc.url, Configured: b.cfg.ChainID, Node: id}
	}
	b.chainOK = true
	return nil
}

// Prepare builds and signs the transaction anchoring a. With prev (an
// earlier submission the ledger reported Unknown) it reuses prev's nonce,
// unless the chain has meanwhile mined a transaction with that nonce.
func (b *Backend) Prepare(ctx context.Context, a ledger.Anchored, prev *ledger.Submission) (*ledger.Submission, error) {
	if err := b.checkChain(ctx); err != nil {
		return nil, err
	}
	payload, err := ledger.Render(b.cfg.TxFormat, a)
	if err != nil {
		return nil, fmt.Errorf("evm: %w", err)
	}
	price := b.cfg.GasPrice
	if price == nil {
		if price, err = b.rpc.gasPrice(ctx); err != nil {
			return nil, fmt.Errorf("evm: ask the node for a gas price: %w", err)
		}
	}
	gas := b.cfg.GasLimit
	if gas == 0 {
		est, err := b.rpc.estimateGas(ctx, b.from, b.to, payload)
		if err != nil {
			return nil, fmt.Errorf("evm: estimate the gas of an anchor transaction: %w", err)
		}
		gas = est + est/10
	}
	nonce, err := b.takeNonce(ctx, prev)
	if err != nil {
		return nil, err
	}
	tx := &legacyTx{Nonce: nonce, GasPrice: price, Gas: gas, To: b.to[:], Value: new(big.Int), Data: payload}
	raw, hash, err := signTx(tx, b.cfg.ChainID, b.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("evm: %w", err)
	}
	return &ledger.Submission{Ledger: Kind, TxID: hex0x(hash), Raw: raw, Nonce: nonce, TxFormat: b.cfg.TxFormat}, nil
}

// takeNonce chooses the nonce for a new transaction: prev's when it may be
// reused, else the next one of the nonce manager, read from the node's
// pending count the first time and after a resync.
func (b *Backend) takeNonce(ctx context.Context, prev *ledger.Submission) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.synced {
		n, err := b.rpc.nonceAt(ctx, b.from, "pending")
		if err != nil {
			return 0, fmt.Errorf("evm: ask the node for the nonce of %s: %w", checksum(b.from), err)
		}
		b.next, b.synced = n, true
	}
	if prev != nil && prev.Ledger == Kind {
		mined, err := b.rpc.nonceAt(ctx, b.from, "latest")
		if err != nil {
			return 0, fmt.Errorf("evm: ask the node for the nonce of %s: %w", checksum(b.from), err)
		}
		if mined <= prev.Nonce {
			// Nonce prev.Nonce is still free: reuse it, and never hand it
			// out again as a fresh one.
			b.next = max(b.next, prev.Nonce+1)
			return prev.Nonce, nil
		}
		// Another transaction took prev's nonce: start again from the
		// node's count.
		n, err := b.rpc.nonceAt(ctx, b.from, "pending")
		if err != nil {
			return 0, fmt.Errorf("evm: ask the node for the nonce of %s: %w", checksum(b.from), err)
		}
		b.next = n
	}
	n := b.next
	b.next++
	return n, nil
}

// resync makes the next Prepare read the nonce from the node again.
func (b *Backend) resync() {
	b.mu.Lock()
	b.synced = false
	b.mu.Unlock()
}

// Broadcast sends s to the node. A node that already has s, in its pool or
// in a block, is not an error. When the node says the nonce is too low and
// s is not on the chain, another transaction took the nonce: the nonce
// manager resyncs and Broadcast fails; Check then reports s Unknown.
func (b *Backend) Broadcast(ctx context.Context, s *ledger.Submission) error {
	if err := b.checkChain(ctx); err != nil {
		return err
	}
	h, err := b.rpc.sendRaw(ctx, s.Raw)
	var rerr *RPCError
	switch {
	case err == nil:
		if !strings.EqualFold(hex0x(h), s.TxID) {
			return fmt.Errorf("evm: the node took transaction %s as %s: the submission's raw bytes and tx id disagree", s.TxID, hex0x(h))
		}
		return nil
	case !errors.As(err, &rerr):
		return fmt.Errorf("evm: broadcast %s: %w", s.TxID, err)
	case knownTx(rerr.Message):
		return nil
	case strings.Contains(strings.ToLower(rerr.Message), "nonce too low"):
		// Mined already (a retried broadcast), or replaced?
		t, terr := b.rpc.txByHash(ctx, s.TxID)
		if terr == nil && t != nil {
			return nil
		}
		b.resync()
		err = fmt.Errorf("evm: broadcast %s: the node says nonce %d is used already (another transaction from %s took it); resynced the nonce from the node, prepare the anchor again: %w", s.TxID, s.Nonce, checksum(b.from), err)
		if terr != nil {
			err = errors.Join(err, fmt.Errorf("evm: look up %s: %w", s.TxID, terr))
		}
		return err
	}
	return fmt.Errorf("evm: broadcast %s: %w", s.TxID, err)
}

// knownTx tells whether a node's error message means it has the
// transaction already (geth, Besu and GoQuorum wordings).
func knownTx(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "already known") || strings.Contains(m, "known transaction") || strings.Contains(m, "already imported")
}

// Check asks the node about s. A mined transaction is Final once it has
// Config.Confirmations blocks (its own included) and its block is still the
// chain's block at that height; a reverted one is an error.
func (b *Backend) Check(ctx context.Context, s *ledger.Submission) (ledger.State, *ledger.Receipt, error) {
	if err := b.checkChain(ctx); err != nil {
		return ledger.Unknown, nil, err
	}
	rc, err := b.rpc.receipt(ctx, s.TxID)
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("evm: receipt of %s: %w", s.TxID, err)
	}
	if rc == nil {
		t, err := b.rpc.txByHash(ctx, s.TxID)
		switch {
		case err != nil:
			return ledger.Unknown, nil, fmt.Errorf("evm: transaction %s: %w", s.TxID, err)
		case t == nil:
			return ledger.Unknown, nil, nil
		}
		return ledger.Pending, nil, nil
	}
	switch {
	case rc.Status == nil:
		return ledger.Unknown, nil, fmt.Errorf("evm: the receipt of %s has no status (a chain without Byzantium): cannot tell whether the anchor succeeded", s.TxID)
	case *rc.Status != 1:
		return ledger.Unknown, nil, fmt.Errorf("evm: transaction %s reverted (status %d) in block %d: the anchor is not on the chain; check the To address and gas limit", s.TxID, *rc.Status, rc.BlockNumber)
	}
	head, err := b.rpc.blockNumber(ctx)
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("evm: head block: %w", err)
	}
	if rc.BlockNumber > math.MaxInt64 {
		return ledger.Unknown, nil, fmt.Errorf("evm: transaction %s is in block %d, beyond any real chain", s.TxID, rc.BlockNumber)
	}
	if head < uint64(rc.BlockNumber) {
		return ledger.Pending, nil, nil // a node behind the one that answered
	}
	conf := head - uint64(rc.BlockNumber) + 1
	if conf < uint64(b.cfg.Confirmations) {
		return ledger.Pending, nil, nil
	}
	blk, err := b.rpc.blockByNumber(ctx, uint64(rc.BlockNumber))
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("evm: block of %s: %w", s.TxID, err)
	}
	if !strings.EqualFold(hex0x(blk.Hash), hex0x(rc.BlockHash)) {
		return ledger.Pending, nil, nil // reorganised meanwhile: ask again
	}
	tx, err := decodeTx(s.Raw)
	if err != nil {
		return ledger.Unknown, nil, fmt.Errorf("evm: submission %s: %w", s.TxID, err)
	}
	if !strings.EqualFold(hex0x(tx.Hash), s.TxID) {
		return ledger.Unknown, nil, fmt.Errorf("evm: submission %s: its raw transaction hashes to %s", s.TxID, hex0x(tx.Hash))
	}
	ev := Evidence{
		RawTx:         hex0x(s.Raw),
		From:          checksum(tx.From),
		To:            checksum([20]byte(tx.To)),
		Nonce:         tx.Nonce,
		GasPrice:      tx.GasPrice.String(),
		GasLimit:      tx.Gas,
		GasUsed:       uint64(rc.GasUsed),
		TxIndex:       uint64(rc.TransactionIndex),
		Confirmations: conf,
	}
	evj, err := json.Marshal(ev)
	if err != nil {
		return ledger.Unknown, nil, err
	}
	return ledger.Final, &ledger.Receipt{
		Ledger:    Kind,
		Network:   strconv.FormatUint(tx.ChainID, 10),
		TxID:      strings.ToLower(hex0x(tx.Hash)),
		Height:    int64(rc.BlockNumber),
		BlockHash: hex0x(blk.Hash),
		BlockTime: time.Unix(int64(blk.Timestamp), 0).UTC(),
		TxFormat:  txFormat(s, b.cfg.TxFormat),
		Payload:   tx.Data,
		Evidence:  evj,
	}, nil
}

// txFormat is the format s was rendered from (older submissions did not
// record it: the configured one).
func txFormat(s *ledger.Submission, configured string) string {
	if s.TxFormat != "" {
		return s.TxFormat
	}
	return configured
}
