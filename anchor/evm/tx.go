package evm

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// legacyTx is a legacy (pre-EIP-2718) transaction with EIP-155 replay
// protection, field for field as it is RLP-encoded. To is a []byte and not
// a [20]byte so that decoding can tell a contract creation (empty) apart
// from a malformed address.
type legacyTx struct {
	Nonce    uint64
	GasPrice *big.Int
	Gas      uint64
	To       []byte
	Value    *big.Int
	Data     []byte
	V, R, S  *big.Int
}

// sigHash is the EIP-155 signing hash:
// keccak256(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])).
func (t *legacyTx) sigHash(chainID *big.Int) ([]byte, error) {
	b, err := rlp.EncodeToBytes([]any{t.Nonce, t.GasPrice, t.Gas, t.To, t.Value, t.Data, chainID, uint(0), uint(0)})
	if err != nil {
		return nil, err
	}
	return crypto.Keccak256(b), nil
}

// signTx signs t for chainID with key, setting V, R and S, and returns the
// signed RLP encoding and its hash (the transaction id).
func signTx(t *legacyTx, chainID uint64, key *ecdsa.PrivateKey) (raw, hash []byte, err error) {
	id := new(big.Int).SetUint64(chainID)
	h, err := t.sigHash(id)
	if err != nil {
		return nil, nil, err
	}
	sig, err := crypto.Sign(h, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign transaction: %w", err)
	}
	t.R = new(big.Int).SetBytes(sig[:32])
	t.S = new(big.Int).SetBytes(sig[32:64])
	// v = recid + chainId*2 + 35
	t.V = new(big.Int).Lsh(id, 1)
	t.V.Add(t.V, big.NewInt(35+int64(sig[64])))
	raw, err = rlp.EncodeToBytes(t)
	if err != nil {
		return nil, nil, err
	}
	return raw, crypto.Keccak256(raw), nil
}

// decodedTx is a decoded, well-formed EIP-155 legacy transaction with what
// its signature yields.
type decodedTx struct {
	legacyTx
	ChainID uint64
	From    [20]byte // the address the signature recovers
	Hash    []byte   // keccak256 of the raw bytes
}

// decodeTx parses raw as a signed legacy EIP-155 transaction to an address
// and recovers its sender. It never panics on any input.
func decodeTx(raw []byte) (*decodedTx, error) {
	d, err := decodeUnrecovered(raw)
	if err != nil {
		return nil, err
	}
	if err := d.recover(); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeUnrecovered parses raw as a legacy EIP-155 transaction to an
// address, with its chain id and hash, but does not look at the signature
// values: From is not set (FORMATS.md §5.3 step "evm transaction").
func decodeUnrecovered(raw []byte) (*decodedTx, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty transaction")
	}
	if raw[0] < 0xc0 {
		// EIP-2718 typed transactions start with their type byte (0x00-0x7f).
		return nil, fmt.Errorf("not a legacy transaction (starts with 0x%02x: a typed EIP-2718 transaction or not RLP)", raw[0])
	}
	var d decodedTx
	if err := rlp.DecodeBytes(raw, &d.legacyTx); err != nil {
		return nil, fmt.Errorf("not a legacy transaction: %w", err)
	}
	t := &d.legacyTx
	switch len(t.To) {
	case 20:
	case 0:
		return nil, errors.New("the transaction creates a contract; an anchor transaction is sent to an address")
	default:
		return nil, fmt.Errorf("the transaction's to is %d bytes, not 20", len(t.To))
	}
	// v = recid + chainId*2 + 35 (EIP-155); 27 and 28 are unprotected.
	if t.V.Cmp(big.NewInt(35)) < 0 {
		return nil, fmt.Errorf("v = %s: the transaction is not EIP-155 replay-protected (v must be chainId*2+35 or +36)", t.V)
	}
	v := new(big.Int).Sub(t.V, big.NewInt(35))
	id := v.Rsh(v, 1)
	if !id.IsUint64() || id.Sign() == 0 {
		return nil, fmt.Errorf("v = %s gives chain id %s, outside 1..2^64-1", t.V, id)
	}
	d.ChainID = id.Uint64()
	d.Hash = crypto.Keccak256(raw)
	return &d, nil
}

// recover checks the signature values (r and s in 1..n-1, s in the lower
// half) and sets From to the address the signature recovers (FORMATS.md
// §5.3 step "sender").
func (d *decodedTx) recover() error {
	t := &d.legacyTx
	id := new(big.Int).SetUint64(d.ChainID)
	recid := byte(new(big.Int).Sub(t.V, big.NewInt(35)).Bit(0))
	if !crypto.ValidateSignatureValues(recid, t.R, t.S, true) {
		return errors.New("the signature values r and s are out of range (1..n-1, and s at most n/2)")
	}
	h, err := t.sigHash(id)
	if err != nil {
		return err
	}
	sig := make([]byte, 65)
	t.R.FillBytes(sig[:32])
	t.S.FillBytes(sig[32:64])
	sig[64] = recid
	pub, err := crypto.SigToPub(h, sig)
	if err != nil {
		return fmt.Errorf("recover the sender from the signature: %w", err)
	}
	d.From = crypto.PubkeyToAddress(*pub)
	return nil
}
