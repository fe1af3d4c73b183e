package interop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/gethnode"
	"github.com/tallygw/tally/internal/testgw"
)

// evmSteps is how many steps FORMATS.md §5, §5.1 and §5.3 make for an
// EVM-anchored bundle.
const evmSteps = 13

// TestEVM anchors a real gateway on a real geth --dev chain (a legacy
// EIP-155 transaction per anchor, FORMATS.md §5.3) and checks that
// `tally verify` and the JS verifier accept its bundles, and reject
// tampered copies at the same step.
func TestEVM(t *testing.T) {
	e := setup(t)
	start := time.Now()
	n, err := gethnode.Start(filepath.Join(e.work, "geth"), gethnode.Options{})
	if err != nil {
		t.Fatalf("start geth --dev: %v\n(the EVM cases need geth v1.17.8: %s, or set TALLY_GETH to one)", err, gethnode.Install)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop geth: %v", err)
		}
	})
	var sender, keyFile string
	a := anchorOn(t, e, "gw-evm", fmt.Sprintf(`  backend: evm
  interval: 1s
  evm:
    rpc: %s
    chain_id: %d
`, n.RPC(), gethnode.DevChainID), func(conf, data string) {
		sender = keygenEVM(t, e, conf, data)
		keyFile = filepath.Join(data, "evm-secp256k1.key") // anchor.evm.key's default
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := n.Fund(ctx, sender, new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)); err != nil {
			t.Fatalf("fund %s: %v\n%s", sender, err, n.Log())
		}
	})
	// The bundles hold all the evidence: verification is offline.
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("geth --dev up, gateway anchored from %s, bundles exported in %s", sender, time.Since(start).Round(time.Millisecond))
	// The gateway's own key, to sign transactions a verifier must still refuse.
	key, err := crypto.LoadECDSA(keyFile)
	if err != nil {
		t.Fatalf("the gateway's EVM key: %v", err)
	}

	chainID := big.NewInt(gethnode.DevChainID)
	pins := []string{"--chain-id", chainID.String(), "--sender", sender}
	for _, seq := range []int{0, firstSize - 1, firstSize, anchoredSize - 1} {
		b := a.bundles[seq]
		t.Run(fmt.Sprintf("valid/seq-%d", seq), func(t *testing.T) {
			r := readBundle(t, b)["anchor"].(map[string]any)["receipt"].(map[string]any)
			if r["ledger"] != "evm" || r["network"] != chainID.String() {
				t.Fatalf("seq %d: ledger %v, network %v; want evm, %s", seq, r["ledger"], r["network"], chainID)
			}
			expectOK(t, e, b, "", nil, evmSteps)
			expectOK(t, e, b, a.idJSON, pins, evmSteps)
		})
	}
	t.Run("valid/sender-pinned-in-lower-case", func(t *testing.T) {
		expectOK(t, e, a.bundles[0], a.idJSON, []string{"--chain-id", chainID.String(), "--sender", strings.ToLower(sender)}, evmSteps)
	})

	otherAddr := "0x" + strings.Repeat("11", 20)
	receipt := func(b map[string]any) map[string]any {
		return b["anchor"].(map[string]any)["receipt"].(map[string]any)
	}
	// setChainID signs the bundle's transaction again with the gateway's
	// key for chainID, and names that chain in the receipt.
	setChainID := func(chainID *big.Int) func(t *testing.T, b map[string]any) {
		return func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.sign(t, chainID, key)
			setTx(t, b, tx.encode(t))
			receipt(b)["network"] = chainID.String()
		}
	}
	// setEvidence sets (or, for nil, deletes) an evidence member.
	setEvidence := func(m string, v any) func(t *testing.T, b map[string]any) {
		return func(t *testing.T, b map[string]any) {
			if v == nil {
				delete(evidenceOf(b), m)
				return
			}
			evidenceOf(b)[m] = v
		}
	}
	setReceipt := func(m string, v any) func(t *testing.T, b map[string]any) {
		return func(t *testing.T, b map[string]any) { receipt(b)[m] = v }
	}
	lower := strings.ToLower(sender)
	caps := "0x" + strings.ToUpper(sender[2:])
	badChecksum := flipCase(t, sender)
	order := crypto.S256().Params().N // n of secp256k1
	maxChainID := new(big.Int).SetUint64(^uint64(0))
	genesis := filepath.Join(e.jsDir, "testdata", "anchored", "genesis.json") // a real CometBFT genesis
	validatorsHash := strings.Repeat("AB", 32)

	// What FORMATS.md §5.3 accepts offline beyond the bundles tally exports.
	for _, v := range []struct {
		name string
		edit func(t *testing.T, b map[string]any)
	}{
		{"to-and-from-in-lower-case", func(t *testing.T, b map[string]any) {
			evidenceOf(b)["from"], evidenceOf(b)["to"] = lower, lower
		}},
		{"unknown-evidence-member", setEvidence("block_number", 3.0)},
		{"gas-used-equals-gas-limit", func(t *testing.T, b map[string]any) {
			evidenceOf(b)["gas_used"] = evidenceOf(b)["gas_limit"]
		}},
		{"largest-numbers", func(t *testing.T, b map[string]any) {
			evidenceOf(b)["tx_index"] = float64(1<<53 - 1)
			evidenceOf(b)["confirmations"] = float64(1<<53 - 1)
		}},
		{"other-block-hash-height-and-time", func(t *testing.T, b map[string]any) {
			// Checked against the chain only, at ledger online.
			r := receipt(b)
			r["block_hash"] = "0x" + strings.Repeat("ab", 32)
			r["height"] = r["height"].(float64) + 1
			r["block_time"] = "2026-03-01T13:00:00.5+01:00"
		}},
	} {
		t.Run("valid/"+v.name, func(t *testing.T) {
			b := readBundle(t, a.bundles[0])
			v.edit(t, b)
			path := filepath.Join(e.work, "evm-valid-"+v.name+".json")
			writeJSON(t, path, b)
			expectOK(t, e, path, "", nil, evmSteps)
			expectOK(t, e, path, a.idJSON, pins, evmSteps)
		})
	}

	type tamper struct {
		name, step string
		pins       []string // ledger pins for the pinned run
		unpinned   bool     // also detectable without pins
		edit       func(t *testing.T, b map[string]any)
	}
	tampers := []tamper{
		{"raw-tx-byte", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			raw := rawTx(t, b)
			raw[len(raw)/2] ^= 0x01 // in the calldata; the tx_id is left as it was
			evidenceOf(b)["raw_tx"] = hexutil.Encode(raw)
		}},
		{"tx-id", "evm transaction", pins, true, setReceipt("tx_id", "0x"+strings.Repeat("ab", 32))},
		// Member names are exact (FORMATS.md §5): "Height" is an unknown
		// receipt member (format), "Nonce" an unknown evidence member, so
		// the nonce is missing (evm transaction), and without "from" the
		// sender step fails.
		{"receipt-Height", "format", pins, true, func(t *testing.T, b map[string]any) {
			r := receipt(b)
			r["Height"] = r["height"]
			delete(r, "height")
		}},
		{"evidence-Nonce", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			ev := evidenceOf(b)
			ev["Nonce"] = ev["nonce"]
			delete(ev, "nonce")
		}},
		{"evidence-From", "sender", pins, true, func(t *testing.T, b map[string]any) {
			ev := evidenceOf(b)
			ev["From"] = ev["from"]
			delete(ev, "from")
		}},
		{"receipt-payload", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["payload"] = flipB64(t, receipt(b)["payload"].(string), 30)
		}},
		{"calldata-of-another-root", "checkpoint in tx", pins, true, func(t *testing.T, b map[string]any) {
			// Signed by the gateway's key for this chain, with tx_id and
			// payload to match, but naming another root.
			tx := decodeTx(t, b)
			data := regexp.MustCompile(`=[0-9a-f]{64}\.`).ReplaceAll(tx.Data, []byte("="+strings.Repeat("0", 64)+"."))
			if bytes.Equal(data, tx.Data) {
				t.Fatalf("no {root_hex} in the calldata %q", tx.Data)
			}
			tx.Data = data
			tx.sign(t, chainID, key)
			setTx(t, b, tx.encode(t))
			receipt(b)["payload"] = base64.StdEncoding.EncodeToString(tx.Data)
		}},
		{"evidence-nonce", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["nonce"] = evidenceOf(b)["nonce"].(float64) + 1
		}},
		{"evidence-gas-limit", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["gas_limit"] = evidenceOf(b)["gas_limit"].(float64) + 1
		}},
		{"evidence-gas-price", "evm transaction", pins, true, setEvidence("gas_price", "1")},
		{"evidence-to", "evm transaction", pins, true, setEvidence("to", otherAddr)},
		{"evidence-from", "sender", pins, true, setEvidence("from", otherAddr)},
		{"pinned-sender", "sender", []string{"--chain-id", chainID.String(), "--sender", otherAddr}, false, nil},
		{"pinned-chain-id", "chain id", []string{"--chain-id", "1338", "--sender", sender}, false, nil},
		{"pinned-chain-id-0", "chain id", []string{"--chain-id", "0", "--sender", sender}, false, nil},
		{"pinned-chain-id-2^64", "chain id", []string{"--chain-id", "18446744073709551616", "--sender", sender}, false, nil},
		{"receipt-network", "chain id", pins, true, setReceipt("network", "1338")},
		{"signature-s", "sender", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.S.Sub(tx.S, big.NewInt(1))
			setTx(t, b, tx.encode(t))
		}},
		{"signature-v-recovery-bit", "sender", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.V.Add(tx.V, big.NewInt(1-2*int64(recoveryBit(tx.V))))
			setTx(t, b, tx.encode(t))
		}},
		{"signature-v-chain-id", "chain id", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.V.Add(tx.V, big.NewInt(2)) // the same signature, claimed for chain 1338
			setTx(t, b, tx.encode(t))
		}},
		{"signed-for-another-chain", "chain id", pins, false, setChainID(big.NewInt(1338))},
		{"v-27", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.V = big.NewInt(27) // not replay-protected
			setTx(t, b, tx.encode(t))
		}},
		{"contract-creation", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.To = nil
			tx.sign(t, chainID, key)
			setTx(t, b, tx.encode(t))
		}},
		{"typed-transaction", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			setTx(t, b, append([]byte{0x02}, rawTx(t, b)...))
		}},
		{"trailing-byte", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			setTx(t, b, append(rawTx(t, b), 0x80))
		}},
		{"tx-format", "checkpoint in tx", pins, true, setReceipt("tx_format", "tally.{origin_b64url}.{size}={root_b64}.{note_sha256_hex}")},

		// FORMATS.md §5.3, step sender: r and s in 1 … n−1, s ≤ n/2.
		{"high-s-twin", "sender", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.S.Sub(order, tx.S)
			tx.V.Add(tx.V, big.NewInt(1-2*int64(recoveryBit(tx.V))))
			setTx(t, b, tx.encode(t))
		}},
		{"signature-r-0", "sender", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.R = big.NewInt(0)
			setTx(t, b, tx.encode(t))
		}},
		{"signature-s-n", "sender", pins, true, func(t *testing.T, b map[string]any) {
			tx := decodeTx(t, b)
			tx.S = new(big.Int).Set(order)
			setTx(t, b, tx.encode(t))
		}},
		// Step evm transaction: v = chainId × 2 + 35 + {0,1}, chainId 1 … 2^64−1.
		{"chain-id-0", "evm transaction", pins, true, setChainID(big.NewInt(0))},
		{"chain-id-2^64", "evm transaction", pins, true, setChainID(new(big.Int).Add(maxChainID, big.NewInt(1)))},
		{"chain-id-2^64-1", "chain id", pins, false, setChainID(maxChainID)},

		// §5.3's forms, each checked at evm transaction (from at sender).
		{"confirmations-0", "evm transaction", pins, true, setEvidence("confirmations", 0.0)},
		{"gas-used-above-gas-limit", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["gas_used"] = evidenceOf(b)["gas_limit"].(float64) + 1
		}},
		{"tx-index-negative", "evm transaction", pins, true, setEvidence("tx_index", -1.0)},
		{"tx-index-2^53", "evm transaction", pins, true, setEvidence("tx_index", float64(1<<53))},
		{"confirmations-fraction", "evm transaction", pins, true, setEvidence("confirmations", 1.5)},
		{"nonce-as-string", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["nonce"] = strconv.FormatFloat(evidenceOf(b)["nonce"].(float64), 'f', -1, 64)
		}},
		{"gas-price-as-number", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			p, err := strconv.ParseFloat(evidenceOf(b)["gas_price"].(string), 64)
			if err != nil {
				t.Fatal(err)
			}
			evidenceOf(b)["gas_price"] = p
		}},
		{"gas-price-leading-zero", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["gas_price"] = "0" + evidenceOf(b)["gas_price"].(string)
		}},
		{"gas-price-plus-sign", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["gas_price"] = "+" + evidenceOf(b)["gas_price"].(string)
		}},
		{"raw-tx-upper-case", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			evidenceOf(b)["raw_tx"] = "0x" + strings.ToUpper(evidenceOf(b)["raw_tx"].(string)[2:])
		}},
		{"to-bad-checksum", "evm transaction", pins, true, setEvidence("to", badChecksum)},
		{"from-bad-checksum", "sender", pins, true, setEvidence("from", badChecksum)},
		{"from-without-0x", "sender", pins, true, setEvidence("from", lower[2:])},
		{"tx-id-upper-case", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["tx_id"] = "0x" + strings.ToUpper(receipt(b)["tx_id"].(string)[2:])
		}},
		{"network-leading-zero", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["network"] = "0" + receipt(b)["network"].(string)
		}},
		{"network-2^64", "evm transaction", pins, true, setReceipt("network", "18446744073709551616")},
		// A height that is a JSON integer passes format; below 1 it fails
		// the receipt's forms, at evm transaction (§5.3).
		{"receipt-height-0", "evm transaction", pins, true, setReceipt("height", 0.0)},
		{"receipt-height--1", "evm transaction", pins, true, setReceipt("height", -1.0)},
		{"block-hash-upper-case", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["block_hash"] = "0x" + strings.ToUpper(receipt(b)["block_hash"].(string)[2:])
		}},
		{"block-hash-without-0x", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["block_hash"] = receipt(b)["block_hash"].(string)[2:]
		}},
		{"block-hash-31-bytes", "evm transaction", pins, true, setReceipt("block_hash", "0x"+strings.Repeat("ab", 31))},
		// A block_time that is not RFC 3339 fails at format, as a member of
		// the wrong JSON type does (§5.3).
		{"block-time-without-offset", "format", pins, true, setReceipt("block_time", "2026-03-01T12:00:00")},
		{"block-time-not-a-time", "format", pins, true, setReceipt("block_time", "yesterday")},

		// Numbers are JSON integers: no fraction, no exponent, even for an
		// integral value (§5, §5.3). The evidence's fail at evm transaction,
		// the bundle's and the receipt's at format.
		{"nonce-with-fraction", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, evidenceOf(b), "nonce", ".0")
		}},
		{"nonce-with-exponent", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, evidenceOf(b), "nonce", "e0")
		}},
		{"confirmations-with-exponent", "evm transaction", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, evidenceOf(b), "confirmations", "E+0")
		}},
		{"height-with-fraction", "format", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, receipt(b), "height", ".0")
		}},
		{"seq-with-exponent", "format", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, b, "seq", "e0")
		}},
		{"tree-size-with-fraction", "format", pins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, b, "tree_size", ".00")
		}},

		// FORMATS.md §5.1 step 10: a pin for the other kind of ledger.
		{"pinned-genesis", "ledger", []string{"--genesis", genesis}, false, nil},
		{"pinned-genesis-and-sender", "ledger", []string{"--genesis", genesis, "--sender", sender}, false, nil},
		{"pinned-validators-hash", "ledger", []string{"--chain-id", chainID.String(), "--validators-hash", validatorsHash, "--sender", sender}, false, nil},
		{"pinned-validators-hash-alone", "ledger", []string{"--validators-hash", validatorsHash}, false, nil},
	}
	// All capitals is refused unless it is the EIP-55 form (for about one
	// address in 2^24, not the gateway's here).
	if caps != sender {
		tampers = append(tampers,
			tamper{"to-in-capitals", "evm transaction", pins, true, setEvidence("to", caps)},
			tamper{"from-in-capitals", "sender", pins, true, setEvidence("from", caps)})
	}
	// §5.3: every listed evidence member is required.
	for _, m := range []string{"raw_tx", "from", "to", "nonce", "gas_price", "gas_limit", "gas_used", "tx_index", "confirmations"} {
		step := "evm transaction"
		if m == "from" {
			step = "sender"
		}
		tampers = append(tampers, tamper{"evidence-without-" + m, step, pins, true, setEvidence(m, nil)})
	}
	for _, tc := range tampers {
		t.Run("tampered/"+tc.name, func(t *testing.T) {
			expectTampered(t, e, a.bundles[0], "evm-"+tc.name, tc.edit, tc.unpinned, a.idJSON, tc.step, tc.pins...)
		})
	}

	// FORMATS.md §5.1: a pin that is not well formed is a usage error.
	for _, u := range []struct {
		name string
		pins []string
	}{
		{"chain-id-in-hex", []string{"--chain-id", "0x539", "--sender", sender}},
		{"chain-id-leading-zero", []string{"--chain-id", "01337", "--sender", sender}},
		{"chain-id-plus-sign", []string{"--chain-id", "+1337"}},
		{"chain-id-of-cometbft", []string{"--chain-id", "tally-interop"}},
		{"sender-bad-checksum", []string{"--chain-id", chainID.String(), "--sender", badChecksum}},
		{"sender-without-0x", []string{"--sender", lower[2:]}},
		{"sender-39-digits", []string{"--sender", lower[:41]}},
		{"sender-not-hex", []string{"--sender", "0x" + strings.Repeat("g", 40)}},
		{"sender-in-capitals", []string{"--chain-id", chainID.String(), "--sender", caps}},
	} {
		if u.pins[len(u.pins)-1] == sender {
			continue // caps is the EIP-55 form
		}
		t.Run("usage/"+u.name, func(t *testing.T) {
			expectUsage(t, e, a.bundles[0], a.idJSON, u.pins...)
		})
	}
}

// legacyTx is an EIP-155 transaction laid out as RLP encodes it.
type legacyTx struct {
	Nonce, GasPrice, Gas *big.Int
	To                   []byte
	Value                *big.Int
	Data                 []byte
	V, R, S              *big.Int
}

func rawTx(t *testing.T, b map[string]any) []byte {
	t.Helper()
	raw, err := hexutil.Decode(evidenceOf(b)["raw_tx"].(string))
	if err != nil {
		t.Fatalf("raw_tx: %v", err)
	}
	return raw
}

func decodeTx(t *testing.T, b map[string]any) *legacyTx {
	t.Helper()
	var tx legacyTx
	if err := rlp.DecodeBytes(rawTx(t, b), &tx); err != nil {
		t.Fatalf("raw_tx: %v", err)
	}
	return &tx
}

func (tx *legacyTx) encode(t *testing.T) []byte {
	t.Helper()
	raw, err := rlp.EncodeToBytes(tx)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sign signs tx for chainID with key (EIP-155: over RLP of the first six
// fields, chainID, 0, 0).
func (tx *legacyTx) sign(t *testing.T, chainID *big.Int, key *ecdsa.PrivateKey) {
	t.Helper()
	msg, err := rlp.EncodeToBytes([]any{tx.Nonce, tx.GasPrice, tx.Gas, tx.To, tx.Value, tx.Data, chainID, uint(0), uint(0)})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := crypto.Sign(crypto.Keccak256(msg), key) // r ‖ s ‖ recovery bit, low s
	if err != nil {
		t.Fatal(err)
	}
	tx.R = new(big.Int).SetBytes(sig[:32])
	tx.S = new(big.Int).SetBytes(sig[32:64])
	tx.V = new(big.Int).Add(new(big.Int).Lsh(chainID, 1), big.NewInt(35+int64(sig[64])))
}

// recoveryBit is the parity EIP-155 adds to v = chainId × 2 + 35.
func recoveryBit(v *big.Int) uint {
	return new(big.Int).Sub(v, big.NewInt(35)).Bit(0)
}

// setTx puts raw into b as its raw_tx, with the tx_id to match.
func setTx(t *testing.T, b map[string]any, raw []byte) {
	t.Helper()
	evidenceOf(b)["raw_tx"] = hexutil.Encode(raw)
	b["anchor"].(map[string]any)["receipt"].(map[string]any)["tx_id"] = hexutil.Encode(crypto.Keccak256(raw))
}

// flipCase changes the case of one letter of an EIP-55 address so that it
// is neither lower case, nor all capitals, nor its EIP-55 form: a bad
// checksum.
func flipCase(t *testing.T, addr string) string {
	t.Helper()
	for i := 2; i < len(addr); i++ {
		c := addr[i]
		if !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			continue
		}
		s := addr[:i] + string(c^0x20) + addr[i+1:]
		if s[2:] != strings.ToLower(s[2:]) && s[2:] != strings.ToUpper(s[2:]) {
			return s
		}
	}
	t.Fatalf("address %s has fewer than two letters: no case to break", addr)
	return ""
}

// anchorOn logs readings in two checkpoints with a real gateway (see
// firstSize), runs `tally run` with the given anchor: section until it has
// anchored the second checkpoint, and exports bundles. prepare, when not
// nil, runs before the daemon with the config file and data directory.
func anchorOn(t *testing.T, e *env, id, anchorYAML string, prepare func(conf, data string)) *anchored {
	t.Helper()
	cfg := ingest.Config{Gateway: id}
	g := testgw.New(t, cfg)
	ctx := t.Context()
	for i := 0; i < anchoredSize; i++ {
		if i == firstSize {
			g.Reopen(t, cfg) // writes the checkpoint of size firstSize
		}
		if err := g.Pipeline.Accept(ctx, reading(i)); err != nil {
			t.Fatalf("accept reading %d: %v", i, err)
		}
	}
	g.Stop(t) // the checkpoint of size anchoredSize

	conf := filepath.Join(e.work, id+".yaml")
	writeFile(t, conf, fmt.Sprintf("gateway:\n  id: %s\nhttp:\n  listen: 127.0.0.1:%d\ncheckpoint:\n  interval: 1s\nanchor:\n%s", id, freePort(t), anchorYAML))
	if prepare != nil {
		prepare(conf, g.Dir)
	}

	runCtx, stop := context.WithCancel(ctx)
	run := exec.CommandContext(runCtx, e.tally, "run", "--config", conf, "--data", g.Dir)
	run.Cancel = func() error { return run.Process.Signal(os.Interrupt) }
	run.WaitDelay = 30 * time.Second
	var runLog bytes.Buffer
	run.Stdout, run.Stderr = &runLog, &runLog
	if err := run.Start(); err != nil {
		stop()
		t.Fatalf("tally run: %v", err)
	}
	anchoredAt, err := waitAnchored(t, e, conf, g.Dir, anchoredSize, 90*time.Second)
	stop()
	waitErr := run.Wait()
	if errors.Is(waitErr, context.Canceled) {
		waitErr = nil // exited 0 on SIGINT
	}
	if err != nil {
		t.Fatalf("%v\ntally run (exit: %v):\n%s", err, waitErr, runLog.String())
	}
	if waitErr != nil {
		t.Fatalf("tally run after SIGINT: %v\n%s", waitErr, runLog.String())
	}
	t.Logf("tally run anchored size %d", anchoredAt)

	a := &anchored{idJSON: filepath.Join(e.work, id+"-id.json"), bundles: map[int]string{}}
	writeFile(t, a.idJSON, e.mustRun(t, e.tally, "id", "--json", "--config", conf, "--data", g.Dir))
	for _, seq := range []int{0, firstSize - 1, firstSize, anchoredSize - 1} {
		out := filepath.Join(e.work, fmt.Sprintf("%s-bundle-%d.json", id, seq))
		e.mustRun(t, e.tally, "export", "--config", conf, "--data", g.Dir, "--seq", strconv.Itoa(seq), "--out", out)
		a.bundles[seq] = out
	}
	return a
}

// keygenEVM runs `tally keygen --evm` and returns the address it prints.
func keygenEVM(t *testing.T, e *env, conf, data string) string {
	t.Helper()
	out := e.mustRun(t, e.tally, "keygen", "--evm", "--config", conf, "--data", data)
	m := regexp.MustCompile(`address (0x[0-9a-fA-F]{40})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tally keygen --evm printed no address:\n%s", out)
	}
	return m[1]
}
