package evm

import (
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/tallygw/tally/internal/secret"
)

// GenerateKey writes a new secp256k1 private key to path, as 64 hex digits
// and a newline (the format geth's --nodekey and `ethkey` use), mode 0600,
// and returns its address. It refuses to overwrite an existing file.
func GenerateKey(path string) (address string, err error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s exists: refusing to overwrite a key (move it away first if you mean to replace it)", path)
		}
		return "", err
	}
	_, err = f.WriteString(hex.EncodeToString(crypto.FromECDSA(k)) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return Address(k), nil
}

// LoadKey reads a secp256k1 private key written by GenerateKey: 64 hex
// digits, optionally 0x-prefixed, surrounding whitespace ignored. It refuses
// a file group or others can read, naming the chmod to run.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := secret.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 {
		// Do not echo the file: it is a secret.
		return nil, fmt.Errorf("%s does not hold a secp256k1 private key (64 hex digits)", path)
	}
	k, err := crypto.ToECDSA(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Address is k's Ethereum address, 0x-prefixed and EIP-55 checksummed
// (mixed case). Tally compares addresses case-insensitively.
func Address(k *ecdsa.PrivateKey) string {
	return checksum(addressOf(k))
}

func addressOf(k *ecdsa.PrivateKey) [20]byte { return crypto.PubkeyToAddress(k.PublicKey) }

// checksum formats a as EIP-55: hex digit i is upper case when nibble i of
// keccak256(lowercase hex of a) is 8 or more.
func checksum(a [20]byte) string {
	lower := hex.EncodeToString(a[:])
	h := crypto.Keccak256([]byte(lower))
	out := []byte(lower)
	for i, c := range out {
		nibble := h[i/2] >> 4
		if i%2 == 1 {
			nibble = h[i/2] & 0xf
		}
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// ParseAddress parses an address as FORMATS.md §5.3 writes it: 0x and 40
// hex digits, all lower case or exactly the EIP-55 mixed-case form (a
// wrong checksum or all capitals is a typo this catches).
func ParseAddress(s string) ([20]byte, error) {
	var a [20]byte
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || len(digits) != 40 {
		return a, fmt.Errorf("address %q is not 0x and 40 hex digits", clip([]byte(s)))
	}
	if _, err := hex.Decode(a[:], []byte(digits)); err != nil {
		return a, fmt.Errorf("address %q is not hex", s)
	}
	if digits != strings.ToLower(digits) && s != checksum(a) {
		return a, fmt.Errorf("address %q is neither lower case nor its EIP-55 form %s (a typo?)", s, checksum(a))
	}
	return a, nil
}

// isSecp256k1 tells whether k is a key on secp256k1.
func isSecp256k1(k *ecdsa.PrivateKey) bool {
	if k == nil || k.Curve == nil || k.D == nil {
		return false
	}
	p, want := k.Curve.Params(), crypto.S256().Params()
	return p.P.Cmp(want.P) == 0 && p.N.Cmp(want.N) == 0 && p.B.Cmp(want.B) == 0
}
