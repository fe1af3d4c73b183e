package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/jsonexact"
)

// Verification step names.
const (
	StepTx     = "evm transaction"
	StepChain  = "chain id"
	StepSender = "sender"
	StepOnline = "ledger online"
)

// Evidence is the EVM ledger's evidence in a receipt (ledger.Receipt.Evidence),
// JSON:
//
//	{
//	  "raw_tx":        "0xf8a5…",   // the signed legacy EIP-155 transaction (RLP), as broadcast
//	  "from":          "0x9a1E…",   // the sender its signature recovers, EIP-55
//	  "to":            "0x9a1E…",   // its recipient, EIP-55 (the sender itself by default)
//	  "nonce":         7,
//	  "gas_price":     "875000001", // wei, a decimal string (it may exceed 2^53)
//	  "gas_limit":     24012,
//	  "gas_used":      21830,       // from the node's transaction receipt
//	  "tx_index":      0,           // the transaction's position in its block
//	  "confirmations": 1            // blocks on top of it, its own included, when the receipt was made
//	}
//
// Everything but gas_used, tx_index and confirmations is in raw_tx too;
// Verify checks they agree. The chain id is in the transaction's v value
// and in the receipt's network. Readers ignore unknown fields.
type Evidence struct {
	RawTx         string `json:"raw_tx"`
	From          string `json:"from"`
	To            string `json:"to"`
	Nonce         uint64 `json:"nonce"`
	GasPrice      string `json:"gas_price"`
	GasLimit      uint64 `json:"gas_limit"`
	GasUsed       uint64 `json:"gas_used"`
	TxIndex       uint64 `json:"tx_index"`
	Confirmations uint64 `json:"confirmations"`
}

// evidenceIn is Evidence as read from a receipt: every member required,
// so each is a pointer that stays nil when the member is missing.
type evidenceIn struct {
	RawTx         *string `json:"raw_tx"`
	From          *string `json:"from"`
	To            *string `json:"to"`
	Nonce         *int64  `json:"nonce"` // signed, so that -0 reads as 0
	GasPrice      *string `json:"gas_price"`
	GasLimit      *int64  `json:"gas_limit"`
	GasUsed       *int64  `json:"gas_used"`
	TxIndex       *int64  `json:"tx_index"`
	Confirmations *int64  `json:"confirmations"`
}

// maxNumber is the largest evidence number (2^53-1: every JSON parser
// reads it exactly).
const maxNumber = 1<<53 - 1

// number returns a required evidence number.
func number(name string, v *int64) (uint64, error) {
	switch {
	case v == nil:
		return 0, fmt.Errorf("the evidence has no %s", name)
	case *v < 0 || *v > maxNumber:
		return 0, fmt.Errorf("evidence %s %d is outside 0..2^53-1", name, *v)
	}
	return uint64(*v), nil
}

// IsDecimal reports whether s is decimal digits without a sign or leading
// zeros.
func IsDecimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isHash reports whether s is 0x and 64 lower-case hex digits.
func isHash(s string) bool {
	digits, ok := strings.CutPrefix(s, "0x")
	return ok && len(digits) == 64 && isLowerHex(digits)
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParseChainID reads a chain id as FORMATS.md §5.3 writes it: decimal
// without a sign or leading zeros, 1..2^64-1.
func ParseChainID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if !IsDecimal(s) || err != nil || id == 0 {
		return 0, fmt.Errorf("chain id %q is not a decimal number from 1 to 2^64-1 without leading zeros", clip([]byte(s)))
	}
	return id, nil
}

// readReceipt decodes r's evidence and raw transaction and checks they
// describe the same transaction as r, and the forms FORMATS.md §5.3 gives:
// the work of step "evm transaction". The evidence's from and the
// signature are left to step "sender".
func readReceipt(r *ledger.Receipt) (*evidenceIn, *decodedTx, error) {
	if r == nil {
		return nil, nil, errors.New("no receipt")
	}
	if r.Ledger != Kind {
		return nil, nil, fmt.Errorf("the receipt is for ledger %q, not %q", r.Ledger, Kind)
	}
	// Unknown members are ignored (FORMATS.md §5.3), and names are exact:
	// "Nonce" is an unknown member, not the nonce.
	exact, err := jsonexact.Strip(r.Evidence, &evidenceIn{})
	if err != nil {
		return nil, nil, err
	}
	var ev evidenceIn
	if err := json.Unmarshal(exact, &ev); err != nil {
		return nil, nil, fmt.Errorf("the receipt's evidence is not EVM evidence JSON: %w", err)
	}
	if _, err := ParseChainID(r.Network); err != nil {
		return nil, nil, fmt.Errorf("the receipt's network: %w", err)
	}
	if !isHash(r.TxID) {
		return nil, nil, fmt.Errorf("the receipt's tx id %q is not 0x and 64 lower-case hex digits", clip([]byte(r.TxID)))
	}
	if !isHash(r.BlockHash) {
		return nil, nil, fmt.Errorf("the receipt's block hash %q is not 0x and 64 lower-case hex digits", clip([]byte(r.BlockHash)))
	}
	if r.Height < 1 {
		return nil, nil, fmt.Errorf("the receipt's height %d is not a block number (at least 1)", r.Height)
	}
	if ev.RawTx == nil {
		return nil, nil, errors.New("the evidence has no raw_tx")
	}
	if digits, ok := strings.CutPrefix(*ev.RawTx, "0x"); !ok || !isLowerHex(digits) {
		return nil, nil, fmt.Errorf("evidence raw_tx %q is not 0x and lower-case hex", clip([]byte(*ev.RawTx)))
	}
	raw, err := parseHex(*ev.RawTx)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence raw_tx: %w", err)
	}
	tx, err := decodeUnrecovered(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence raw_tx: %w", err)
	}
	if h := hex0x(tx.Hash); h != r.TxID {
		return nil, nil, fmt.Errorf("the raw transaction hashes to %s, not the receipt's tx id %s", h, r.TxID)
	}
	if !bytes.Equal(tx.Data, r.Payload) {
		return nil, nil, fmt.Errorf("the transaction's calldata %q is not the receipt's payload %q", clip(tx.Data), clip(r.Payload))
	}
	if ev.To == nil {
		return nil, nil, errors.New("the evidence has no to")
	}
	to, err := ParseAddress(*ev.To)
	if err != nil {
		return nil, nil, fmt.Errorf("evidence to: %w", err)
	}
	if to != [20]byte(tx.To) {
		return nil, nil, fmt.Errorf("evidence says to %s, the transaction goes to %s", *ev.To, checksum([20]byte(tx.To)))
	}
	if ev.GasPrice == nil {
		return nil, nil, errors.New("the evidence has no gas_price")
	}
	price, ok := new(big.Int).SetString(*ev.GasPrice, 10)
	if !ok || !IsDecimal(*ev.GasPrice) {
		return nil, nil, fmt.Errorf("evidence gas_price %q is not a decimal number without leading zeros", clip([]byte(*ev.GasPrice)))
	}
	if price.Cmp(tx.GasPrice) != 0 {
		return nil, nil, fmt.Errorf("evidence says gas price %s, the transaction's is %s", price, tx.GasPrice)
	}
	var nums [5]uint64
	for i, n := range []struct {
		name string
		v    *int64
	}{{"nonce", ev.Nonce}, {"gas_limit", ev.GasLimit}, {"gas_used", ev.GasUsed}, {"tx_index", ev.TxIndex}, {"confirmations", ev.Confirmations}} {
		if nums[i], err = number(n.name, n.v); err != nil {
			return nil, nil, err
		}
	}
	nonce, gasLimit, gasUsed, confirmations := nums[0], nums[1], nums[2], nums[4]
	switch {
	case nonce != tx.Nonce:
		return nil, nil, fmt.Errorf("evidence says nonce %d, the transaction's is %d", nonce, tx.Nonce)
	case gasLimit != tx.Gas:
		return nil, nil, fmt.Errorf("evidence says gas limit %d, the transaction's is %d", gasLimit, tx.Gas)
	case gasUsed > tx.Gas:
		return nil, nil, fmt.Errorf("evidence says gas used %d, above the transaction's limit %d", gasUsed, tx.Gas)
	case confirmations < 1:
		return nil, nil, errors.New("evidence says 0 confirmations: the transaction was not in a block")
	}
	return &ev, tx, nil
}

// senderOf checks the signature and the evidence's from: the work of
// step "sender" before the pin.
func senderOf(ev *evidenceIn, tx *decodedTx) error {
	if err := tx.recover(); err != nil {
		return err
	}
	if ev.From == nil {
		return errors.New("the evidence has no from")
	}
	from, err := ParseAddress(*ev.From)
	if err != nil {
		return fmt.Errorf("evidence from: %w", err)
	}
	if from != tx.From {
		return fmt.Errorf("the signature recovers %s, but the evidence says from %s", checksum(tx.From), *ev.From)
	}
	return nil
}

// Verify checks an EVM receipt offline, appending steps to s:
//
//   - "evm transaction": the evidence's raw_tx decodes as a signed legacy
//     EIP-155 transaction, hashes to the receipt's tx id, carries the
//     receipt's payload as calldata, and the evidence's other fields agree
//     with it;
//   - "chain id": the chain id the signature commits to (in v) is the
//     receipt's network and, when trust pins one, trust.ChainID;
//   - "sender": the signature recovers the evidence's from and, when trust
//     pins one, trust.Sender (compared case-insensitively).
//
// An unpinned chain id or sender is reported as "NOT pinned" in the step's
// detail. That the payload is the checkpoint (step "checkpoint in tx",
// ledger.CheckPayload) and that the chain holds the transaction
// (VerifyOnline) are checked by the caller.
func Verify(s *ledger.Steps, r *ledger.Receipt, trust ledger.Trust) error {
	ev, tx, err := readReceipt(r)
	if err != nil {
		return s.Fail(StepTx, err)
	}
	s.OK(StepTx, "%s is a legacy EIP-155 transaction (nonce %d, to %s, gas used %d of %d) whose calldata is the receipt's payload (%d bytes)",
		r.TxID, tx.Nonce, checksum([20]byte(tx.To)), *ev.GasUsed, tx.Gas, len(tx.Data))

	network, _ := ParseChainID(r.Network) // its form was checked above
	if tx.ChainID != network {
		return s.Fail(StepChain, fmt.Errorf("the transaction is signed for chain id %d, the receipt says network %d", tx.ChainID, network))
	}
	if trust.ChainID == "" {
		s.OK(StepChain, "signed for chain id %d, the receipt's network; chain id NOT pinned: pin it so a transaction on another chain cannot pass", tx.ChainID)
	} else {
		pinned, err := ParseChainID(trust.ChainID)
		switch {
		case err != nil:
			return s.Fail(StepChain, fmt.Errorf("the pinned %w", err))
		case pinned != tx.ChainID:
			return s.Fail(StepChain, fmt.Errorf("the transaction is signed for chain id %d, not the pinned chain id %d", tx.ChainID, pinned))
		}
		s.OK(StepChain, "signed for chain id %d, the pinned chain id", tx.ChainID)
	}

	if err := senderOf(ev, tx); err != nil {
		return s.Fail(StepSender, err)
	}
	if trust.Sender == "" {
		s.OK(StepSender, "signed by %s, the evidence's sender; sender NOT pinned: pin the gateway's address so anyone else's transaction cannot pass", checksum(tx.From))
		return nil
	}
	pinned, err := ParseAddress(trust.Sender)
	if err != nil {
		return s.Fail(StepSender, fmt.Errorf("pinned sender: %w", err))
	}
	if pinned != tx.From {
		return s.Fail(StepSender, fmt.Errorf("the transaction is signed by %s, not the pinned sender %s", checksum(tx.From), checksum(pinned)))
	}
	s.OK(StepSender, "signed by %s, the pinned sender", checksum(tx.From))
	return nil
}

// VerifyOnline is step "ledger online": it asks the node at rpcURL whether
// the chain holds the receipt's transaction: same chain id, same hash,
// calldata and sender, successful, in block r.Height whose hash is
// r.BlockHash. It reports the confirmations the transaction has now. Each
// RPC call is bounded by 10 s.
func VerifyOnline(ctx context.Context, s *ledger.Steps, r *ledger.Receipt, rpcURL string) error {
	ev, tx, err := readReceipt(r)
	if err == nil {
		err = senderOf(ev, tx)
	}
	if err != nil {
		return s.Fail(StepOnline, err)
	}
	c := newClient(rpcURL, 10*time.Second)
	defer c.close()
	conf, err := checkOnline(ctx, c, r, tx)
	if err != nil {
		return s.Fail(StepOnline, err)
	}
	s.OK(StepOnline, "the node at %s holds %s from %s in block %d (%s), %d confirmations now",
		rpcURL, r.TxID, checksum(tx.From), r.Height, r.BlockHash, conf)
	return nil
}

func checkOnline(ctx context.Context, c *client, r *ledger.Receipt, tx *decodedTx) (confirmations uint64, err error) {
	id, err := c.chainID(ctx)
	if err != nil {
		return 0, err
	}
	if strconv.FormatUint(id, 10) != r.Network {
		return 0, fmt.Errorf("the node at %s serves chain id %d, the receipt is for network %s", c.url, id, r.Network)
	}
	t, err := c.txByHash(ctx, r.TxID)
	switch {
	case err != nil:
		return 0, err
	case t == nil:
		return 0, fmt.Errorf("the node at %s does not know transaction %s", c.url, r.TxID)
	case !strings.EqualFold(hex0x(t.Hash), r.TxID):
		return 0, fmt.Errorf("asked for transaction %s, the node at %s answered %s", r.TxID, c.url, hex0x(t.Hash))
	case !bytes.Equal(t.Input, r.Payload):
		return 0, fmt.Errorf("the chain's transaction %s carries %q, not the receipt's payload %q", r.TxID, clip(t.Input), clip(r.Payload))
	case len(t.From) != 20 || [20]byte(t.From) != tx.From:
		return 0, fmt.Errorf("the node says transaction %s is from %s, the signature recovers %s", r.TxID, hex0x(t.From), checksum(tx.From))
	}
	rc, err := c.receipt(ctx, r.TxID)
	switch {
	case err != nil:
		return 0, err
	case rc == nil:
		return 0, fmt.Errorf("transaction %s is not in a block on the node at %s (dropped, or reorganised out)", r.TxID, c.url)
	case rc.Status == nil || *rc.Status != 1:
		return 0, fmt.Errorf("the node's receipt of transaction %s does not say it succeeded (status 0x1)", r.TxID)
	case int64(rc.BlockNumber) != r.Height || !strings.EqualFold(hex0x(rc.BlockHash), r.BlockHash):
		return 0, fmt.Errorf("transaction %s is in block %d (%s) on the node at %s, the receipt says block %d (%s)", r.TxID, rc.BlockNumber, hex0x(rc.BlockHash), c.url, r.Height, r.BlockHash)
	}
	blk, err := c.blockByNumber(ctx, uint64(r.Height))
	if err != nil {
		return 0, err
	}
	if !strings.EqualFold(hex0x(blk.Hash), r.BlockHash) {
		return 0, fmt.Errorf("block %d on the node at %s is %s, the receipt says %s", r.Height, c.url, hex0x(blk.Hash), r.BlockHash)
	}
	if bt := time.Unix(int64(blk.Timestamp), 0).UTC(); !bt.Equal(r.BlockTime) {
		return 0, fmt.Errorf("block %d on the node at %s was made at %s, the receipt says %s", r.Height, c.url, bt.Format(time.RFC3339), r.BlockTime.UTC().Format(time.RFC3339))
	}
	head, err := c.blockNumber(ctx)
	if err != nil {
		return 0, err
	}
	if head < uint64(r.Height) {
		return 0, fmt.Errorf("the node at %s is at block %d, below the receipt's block %d", c.url, head, r.Height)
	}
	return head - uint64(r.Height) + 1, nil
}
