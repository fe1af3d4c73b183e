package evm

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eip155Signed is the signed transaction of EIP-155's example, verbatim
// (https://eips.ethereum.org/EIPS/eip-155#example).
const eip155Signed = "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"

// TestEIP155Vector checks signing and decoding against EIP-155's example:
// nonce 9, gas price 20 gwei, gas 21000, to 0x3535…35, value 1 ether, no
// data, chain id 1, key 0x4646…46.
func TestEIP155Vector(t *testing.T) {
	key, err := crypto.ToECDSA(bytes.Repeat([]byte{0x46}, 32))
	if err != nil {
		t.Fatal(err)
	}
	tx := &legacyTx{
		Nonce:    9,
		GasPrice: big.NewInt(20_000_000_000),
		Gas:      21000,
		To:       bytes.Repeat([]byte{0x35}, 20),
		Value:    new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil),
		Data:     []byte{},
	}
	signing, err := rlp.EncodeToBytes([]any{tx.Nonce, tx.GasPrice, tx.Gas, tx.To, tx.Value, tx.Data, big.NewInt(1), uint(0), uint(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(signing), "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080"; got != want {
		t.Errorf("signing data\n got %s\nwant %s", got, want)
	}
	h, err := tx.sigHash(big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(h), "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"; got != want {
		t.Errorf("signing hash\n got %s\nwant %s", got, want)
	}
	raw, hash, err := signTx(tx, 1, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(raw); got != eip155Signed {
		t.Errorf("signed\n got %s\nwant %s", got, eip155Signed)
	}
	if tx.V.Int64() != 37 {
		t.Errorf("v = %s, want 37", tx.V)
	}
	d, err := decodeTx(unhex(t, eip155Signed))
	if err != nil {
		t.Fatal(err)
	}
	if d.ChainID != 1 || d.Nonce != 9 || d.Gas != 21000 || !bytes.Equal(d.Hash, hash) {
		t.Errorf("decoded chain id %d nonce %d gas %d hash %x", d.ChainID, d.Nonce, d.Gas, d.Hash)
	}
	if got, want := checksum(d.From), Address(key); got != want {
		t.Errorf("recovered sender %s, want %s", got, want)
	}
}

// TestChecksum checks EIP-55's examples verbatim.
func TestChecksum(t *testing.T) {
	for _, want := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		a, err := ParseAddress(strings.ToLower(want))
		if err != nil {
			t.Fatal(err)
		}
		if got := checksum(a); got != want {
			t.Errorf("checksum = %s, want %s", got, want)
		}
	}
}

// signedWith signs a transaction built by edit for chain id 1337 with the
// EIP-155 example key and returns its RLP.
func signedWith(t testing.TB, edit func(*legacyTx)) []byte {
	key, err := crypto.ToECDSA(bytes.Repeat([]byte{0x46}, 32))
	if err != nil {
		t.Fatal(err)
	}
	tx := &legacyTx{Nonce: 1, GasPrice: big.NewInt(1), Gas: 30000, To: bytes.Repeat([]byte{0x35}, 20), Value: new(big.Int), Data: []byte("tally")}
	if edit != nil {
		edit(tx)
	}
	raw, _, err := signTx(tx, 1337, key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// reencode decodes raw as a legacyTx, lets edit change it, and encodes it
// again without signing.
func reencode(t testing.TB, raw []byte, edit func(*legacyTx)) []byte {
	var tx legacyTx
	if err := rlp.DecodeBytes(raw, &tx); err != nil {
		t.Fatal(err)
	}
	edit(&tx)
	b, err := rlp.EncodeToBytes(&tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeTxCases(t testing.TB) []struct {
	name, want string
	raw        []byte
} {
	good := signedWith(t, nil)
	secp256k1N := crypto.S256().Params().N
	return []struct {
		name, want string
		raw        []byte
	}{
		{"ok", "", good},
		{"eip155 example", "", unhex(t, eip155Signed)},
		{"empty", "empty transaction", nil},
		{"typed 0x02", "typed EIP-2718", append([]byte{0x02}, good...)},
		{"string", "typed EIP-2718", []byte{0x83, 'a', 'b', 'c'}},
		{"trailing byte", "not a legacy transaction", append(append([]byte{}, good...), 0x00)},
		{"truncated", "not a legacy transaction", good[:len(good)-1]},
		{"too few fields", "not a legacy transaction", unhex(t, "c3010203")},
		{"contract creation", "creates a contract", signedWith(t, func(tx *legacyTx) { tx.To = nil })},
		{"short to", "not 20", signedWith(t, func(tx *legacyTx) { tx.To = tx.To[:19] })},
		{"unprotected v 27", "not EIP-155", reencode(t, good, func(tx *legacyTx) { tx.V = big.NewInt(27) })},
		{"v for chain 0", "outside", reencode(t, good, func(tx *legacyTx) { tx.V = big.NewInt(35) })},
		{"v beyond 64-bit chain id", "outside", reencode(t, good, func(tx *legacyTx) { tx.V = new(big.Int).Lsh(big.NewInt(1), 70) })},
		{"r zero", "out of range", reencode(t, good, func(tx *legacyTx) { tx.R = new(big.Int) })},
		{"s high", "out of range", reencode(t, good, func(tx *legacyTx) { tx.S = new(big.Int).Sub(secp256k1N, tx.S) })},
		{"r not on curve", "recover", reencode(t, good, func(tx *legacyTx) { tx.R = big.NewInt(5) })},
	}
}

func TestDecodeTx(t *testing.T) {
	for _, tc := range decodeTxCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeTx(tc.raw)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeTx = %+v, %v; want an error containing %q", d, err, tc.want)
			}
		})
	}
}

// FuzzDecodeTx: decodeTx never panics, and what it accepts is canonical
// RLP that re-encodes to the same bytes.
func FuzzDecodeTx(f *testing.F) {
	for _, tc := range decodeTxCases(f) {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := decodeTx(raw)
		if err != nil {
			return
		}
		again, err := rlp.EncodeToBytes(&d.legacyTx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, again)
		}
		if len(d.To) != 20 || d.ChainID == 0 {
			t.Fatalf("accepted to %x chain id %d", d.To, d.ChainID)
		}
	})
}
