package evm

import (
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/tallygw/tally/anchor/ledger"
)

// withEvidence returns evidence JSON edited by edit.
func withEvidence(t testing.TB, evidence json.RawMessage, edit func(*Evidence)) json.RawMessage {
	t.Helper()
	var ev Evidence
	if err := json.Unmarshal(evidence, &ev); err != nil {
		t.Fatal(err)
	}
	edit(&ev)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tamperCase struct {
	name  string
	step  string // the step that must fail
	trust *ledger.Trust
	edit  func(*ledger.Receipt)
}

// tamperCases are receipts changed after the fact and the step that must
// catch each; r is a valid receipt sent from sender on chain 1337.
func tamperCases(t testing.TB, r *ledger.Receipt, sender string) []tamperCase {
	var ev Evidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	raw, err := parseHex(ev.RawTx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) func(*ledger.Receipt) {
		return func(r *ledger.Receipt) {
			b := append([]byte(nil), raw...)
			b[i] ^= 0x01
			r.Evidence = withEvidence(t, r.Evidence, func(ev *Evidence) { ev.RawTx = hex0x(b) })
		}
	}
	evidence := func(edit func(*Evidence)) func(*ledger.Receipt) {
		return func(r *ledger.Receipt) { r.Evidence = withEvidence(t, r.Evidence, edit) }
	}
	// The same transaction signed by another key, the receipt made
	// consistent with it: only a pinned sender tells.
	other, err := crypto.ToECDSA(crypto.Keccak256([]byte("someone else")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	forged, forgedHash, err := signTx(&legacyTx{Nonce: d.Nonce, GasPrice: d.GasPrice, Gas: d.Gas, To: d.To, Value: d.Value, Data: d.Data}, d.ChainID, other)
	if err != nil {
		t.Fatal(err)
	}
	// members edits the evidence as raw JSON members.
	members := func(edit func(m map[string]json.RawMessage)) func(*ledger.Receipt) {
		return func(r *ledger.Receipt) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Evidence, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			r.Evidence = b
		}
	}
	without := func(member string) func(*ledger.Receipt) {
		return members(func(m map[string]json.RawMessage) { delete(m, member) })
	}
	// The high-s twin of the signature (s' = n - s, the other recovery
	// bit) recovers the same sender but is not canonical (EIP-2).
	twin := d.legacyTx
	twin.S = new(big.Int).Sub(crypto.S256().Params().N, d.S)
	recid := new(big.Int).Sub(d.V, big.NewInt(35)).Bit(0)
	twin.V = big.NewInt(int64(2*d.ChainID + 35 + uint64(1-recid)))
	twinRaw, err := rlp.EncodeToBytes(&twin)
	if err != nil {
		t.Fatal(err)
	}
	cases := []tamperCase{
		{"flipped byte in raw tx", StepTx, nil, flip(len(raw) / 2)},
		{"flipped byte in signature", StepTx, nil, flip(len(raw) - 1)},
		{"flipped first byte", StepTx, nil, flip(0)},
		{"payload changed", StepTx, nil, func(r *ledger.Receipt) { r.Payload = append([]byte("x"), r.Payload...) }},
		{"tx id changed", StepTx, nil, func(r *ledger.Receipt) { r.TxID = "0x" + strings.Repeat("00", 32) }},
		{"ledger cometbft", StepTx, nil, func(r *ledger.Receipt) { r.Ledger = "cometbft" }},
		{"evidence not JSON", StepTx, nil, func(r *ledger.Receipt) { r.Evidence = json.RawMessage(`"raw"`) }},
		{"evidence empty", StepTx, nil, func(r *ledger.Receipt) { r.Evidence = nil }},
		{"raw tx missing", StepTx, nil, evidence(func(ev *Evidence) { ev.RawTx = "" })},
		{"raw tx not hex", StepTx, nil, evidence(func(ev *Evidence) { ev.RawTx = "0xzz" })},
		{"raw tx without 0x", StepTx, nil, evidence(func(ev *Evidence) { ev.RawTx = ev.RawTx[2:] })},
		{"evidence nonce", StepTx, nil, evidence(func(ev *Evidence) { ev.Nonce++ })},
		{"evidence gas price", StepTx, nil, evidence(func(ev *Evidence) { ev.GasPrice += "0" })},
		{"evidence gas price not a number", StepTx, nil, evidence(func(ev *Evidence) { ev.GasPrice = "0x1" })},
		{"evidence gas limit", StepTx, nil, evidence(func(ev *Evidence) { ev.GasLimit++ })},
		{"evidence gas used above limit", StepTx, nil, evidence(func(ev *Evidence) { ev.GasUsed = ev.GasLimit + 1 })},
		{"evidence to", StepTx, nil, evidence(func(ev *Evidence) { ev.To = "0x" + strings.Repeat("00", 20) })},
		{"evidence to malformed", StepTx, nil, evidence(func(ev *Evidence) { ev.To = "nobody" })},
		{"evidence 0 confirmations", StepTx, nil, evidence(func(ev *Evidence) { ev.Confirmations = 0 })},
		{"negative height", StepTx, nil, func(r *ledger.Receipt) { r.Height = -1 }},
		{"network changed", StepChain, nil, func(r *ledger.Receipt) { r.Network = "1" }},
		{"network not decimal", StepTx, nil, func(r *ledger.Receipt) { r.Network = "0x539" }},
		{"wrong chain id pinned", StepChain, &ledger.Trust{ChainID: "1338", Sender: sender}, nil},
		{"pinned chain id not decimal", StepChain, &ledger.Trust{ChainID: "dev", Sender: sender}, nil},
		{"evidence from changed", StepSender, nil, evidence(func(ev *Evidence) { ev.From = "0x" + strings.Repeat("11", 20) })},
		{"evidence from malformed", StepSender, nil, evidence(func(ev *Evidence) { ev.From = "" })},
		{"wrong pinned sender", StepSender, &ledger.Trust{ChainID: "1337", Sender: "0x" + strings.Repeat("22", 20)}, nil},
		{"pinned sender malformed", StepSender, &ledger.Trust{ChainID: "1337", Sender: "me"}, nil},
		{"signed by another key", StepSender, nil, func(r *ledger.Receipt) {
			r.TxID = hex0x(forgedHash)
			r.Evidence = withEvidence(t, r.Evidence, func(ev *Evidence) { ev.RawTx, ev.From = hex0x(forged), Address(other) })
		}},
		{"high-s twin signature", StepSender, nil, func(r *ledger.Receipt) {
			r.TxID = hex0x(crypto.Keccak256(twinRaw))
			r.Evidence = withEvidence(t, r.Evidence, func(ev *Evidence) { ev.RawTx = hex0x(twinRaw) })
		}},
		{"tx id upper case", StepTx, nil, func(r *ledger.Receipt) { r.TxID = "0x" + strings.ToUpper(r.TxID[2:]) }},
		{"raw tx upper case", StepTx, nil, evidence(func(ev *Evidence) { ev.RawTx = "0x" + strings.ToUpper(ev.RawTx[2:]) })},
		{"from with a wrong checksum", StepSender, nil, evidence(func(ev *Evidence) { ev.From = flipCase(ev.From) })},
		{"from all capitals", StepSender, nil, evidence(func(ev *Evidence) { ev.From = "0x" + strings.ToUpper(ev.From[2:]) })},
		{"to with a wrong checksum", StepTx, nil, evidence(func(ev *Evidence) { ev.To = flipCase(ev.To) })},
		{"gas price with a leading zero", StepTx, nil, evidence(func(ev *Evidence) { ev.GasPrice = "0" + ev.GasPrice })},
		{"network with a leading zero", StepTx, nil, func(r *ledger.Receipt) { r.Network = "0" + r.Network }},
		{"network 0", StepTx, nil, func(r *ledger.Receipt) { r.Network = "0" }},
		{"height 0", StepTx, nil, func(r *ledger.Receipt) { r.Height = 0 }},
		{"block hash malformed", StepTx, nil, func(r *ledger.Receipt) { r.BlockHash = "xyz" }},
		{"block hash upper case", StepTx, nil, func(r *ledger.Receipt) { r.BlockHash = "0x" + strings.ToUpper(r.BlockHash[2:]) }},
		{"nonce above 2^53-1", StepTx, nil, evidence(func(ev *Evidence) { ev.Nonce = 1 << 53 })},
		{"pinned chain id with a leading zero", StepChain, &ledger.Trust{ChainID: "01337", Sender: sender}, nil},
	}
	rawMember := func(member, raw string) func(*ledger.Receipt) {
		return members(func(m map[string]json.RawMessage) { m[member] = json.RawMessage(raw) })
	}
	renamed := func(member, to string) func(*ledger.Receipt) {
		return members(func(m map[string]json.RawMessage) { m[to] = m[member]; delete(m, member) })
	}
	cases = append(cases,
		tamperCase{"evidence nonce negative", StepTx, nil, rawMember("nonce", "-1")},
		tamperCase{"evidence nonce with a fraction", StepTx, nil, rawMember("nonce", "0.5")},
		// Names are exact: "Nonce" is an unknown member, so nonce is missing.
		tamperCase{"evidence nonce named Nonce", StepTx, nil, renamed("nonce", "Nonce")},
		tamperCase{"evidence from named From", StepSender, nil, renamed("from", "From")},
	)
	for _, m := range []string{"raw_tx", "to", "nonce", "gas_price", "gas_limit", "gas_used", "tx_index", "confirmations"} {
		cases = append(cases, tamperCase{"evidence without " + m, StepTx, nil, without(m)})
	}
	return append(cases, tamperCase{"evidence without from", StepSender, nil, without("from")})
}

// flipCase changes the case of the first letter among an address's hex
// digits, which breaks its EIP-55 checksum.
func flipCase(addr string) string {
	b := []byte(addr)
	for i := 2; i < len(b); i++ {
		switch c := b[i]; {
		case c >= 'a' && c <= 'f':
			b[i] = c - 'a' + 'A'
			return string(b)
		case c >= 'A' && c <= 'F':
			b[i] = c - 'A' + 'a'
			return string(b)
		}
	}
	return addr
}

// testTampered checks that r verifies with chain 1337 and sender pinned,
// and that each tampered copy fails at its step.
func testTampered(t *testing.T, r *ledger.Receipt, sender string) {
	pinned := ledger.Trust{ChainID: "1337", Sender: sender}
	var steps ledger.Steps
	if err := Verify(&steps, r, pinned); err != nil {
		t.Fatalf("the untampered receipt fails: %v", err)
	}
	for _, tc := range tamperCases(t, r, sender) {
		t.Run(tc.name, func(t *testing.T) {
			bad := *r
			if tc.edit != nil {
				tc.edit(&bad)
			}
			trust := pinned
			if tc.trust != nil {
				trust = *tc.trust
			}
			var steps ledger.Steps
			err := Verify(&steps, &bad, trust)
			var se *ledger.StepError
			if !errors.As(err, &se) {
				t.Fatalf("Verify = %v, want a failure of step %q", err, tc.step)
			}
			if se.Step != tc.step {
				t.Fatalf("failed at step %q (%v), want %q", se.Step, err, tc.step)
			}
			last := steps.List[len(steps.List)-1]
			if last.OK || last.Name != tc.step {
				t.Errorf("last step %+v", last)
			}
			t.Logf("%v", err)
		})
	}
}

func readGolden(t testing.TB) *ledger.Receipt {
	b, err := os.ReadFile(filepath.Join("testdata", "receipt.json"))
	if err != nil {
		t.Fatalf("%v (record it: go test -run TestAnchorGeth -update ./anchor/evm/)", err)
	}
	var r ledger.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestVerifyGolden checks a receipt recorded from geth --dev, offline.
func TestVerifyGolden(t *testing.T) {
	if got := Address(goldenKey(t)); got != goldenSender {
		t.Fatalf("goldenKey's address is %s, not %s", got, goldenSender)
	}
	r := readGolden(t)
	var steps ledger.Steps
	if err := Verify(&steps, r, ledger.Trust{}); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps.List {
		if st.Name != StepTx && !strings.Contains(st.Detail, "NOT pinned") {
			t.Errorf("unpinned step %q says %q", st.Name, st.Detail)
		}
	}
	if err := ledger.CheckPayload(&steps, r, anchored(0)); err != nil {
		t.Fatal(err)
	}
	testTampered(t, r, goldenSender)

	// -0 is a JSON integer, and reads as 0 (the golden transaction's nonce).
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Evidence, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["nonce"]) != "0" {
		t.Fatalf("golden nonce %s, want 0", m["nonce"])
	}
	m["nonce"] = json.RawMessage("-0")
	minusZero := *r
	minusZero.Evidence, _ = json.Marshal(m)
	if err := Verify(&ledger.Steps{}, &minusZero, ledger.Trust{}); err != nil {
		t.Fatalf("nonce -0: %v", err)
	}
}

func TestVerifyNilReceipt(t *testing.T) {
	var steps ledger.Steps
	if err := Verify(&steps, nil, ledger.Trust{}); err == nil || !strings.Contains(err.Error(), StepTx) {
		t.Fatalf("Verify(nil) = %v", err)
	}
}

// FuzzVerify: Verify never panics on any receipt, and either every step
// passes or the last one recorded is the one that failed.
func FuzzVerify(f *testing.F) {
	r := readGolden(f)
	f.Add([]byte(r.Evidence), r.Payload, r.TxID, r.Network, "1337", goldenSender)
	f.Add([]byte(r.Evidence), r.Payload, r.TxID, r.Network, "", "")
	for _, tc := range tamperCases(f, r, goldenSender) {
		bad := *r
		if tc.edit != nil {
			tc.edit(&bad)
		}
		trust := ledger.Trust{ChainID: "1337", Sender: goldenSender}
		if tc.trust != nil {
			trust = *tc.trust
		}
		f.Add([]byte(bad.Evidence), bad.Payload, bad.TxID, bad.Network, trust.ChainID, trust.Sender)
	}
	f.Add([]byte(`{"raw_tx":"0xc0","gas_price":"-1"}`), []byte{}, "", "", "", "")
	f.Add([]byte(`{"raw_tx":"0x`+eip155Signed+`","to":"0x3535353535353535353535353535353535353535","nonce":9,"gas_price":"20000000000","gas_limit":21000,"confirmations":1}`),
		[]byte{}, "0x33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788", "1", "1", "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F")
	f.Fuzz(func(t *testing.T, evidence, payload []byte, txID, network, trustChain, trustSender string) {
		r := &ledger.Receipt{Ledger: "evm", Network: network, TxID: txID, Height: 1, Payload: payload, Evidence: evidence}
		var steps ledger.Steps
		err := Verify(&steps, r, ledger.Trust{ChainID: trustChain, Sender: trustSender})
		if err == nil {
			if len(steps.List) != 3 {
				t.Fatalf("passed with steps %+v", steps.List)
			}
			for _, st := range steps.List {
				if !st.OK {
					t.Fatalf("passed with a failed step %+v", st)
				}
			}
			return
		}
		var se *ledger.StepError
		if !errors.As(err, &se) || len(steps.List) == 0 {
			t.Fatalf("error %v is not a step failure", err)
		}
		if last := steps.List[len(steps.List)-1]; last.OK || last.Name != se.Step {
			t.Fatalf("error at %q, last step %+v", se.Step, last)
		}
	})
}

// TestQuantity checks the JSON-RPC quantity parser on good and bad input.
func TestQuantity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{`"0x0"`, 0, true},
		{`"0x539"`, 1337, true},
		{`"0xffffffffffffffff"`, 1<<64 - 1, true},
		{`"0x10000000000000000"`, 0, false},
		{`"0x"`, 0, false},
		{`"539"`, 0, false},
		{`1337`, 0, false},
		{`"0xg"`, 0, false},
		{`null`, 0, false},
	} {
		var q quantity
		err := json.Unmarshal([]byte(tc.in), &q)
		if (err == nil) != tc.ok || (tc.ok && uint64(q) != tc.want) {
			t.Errorf("quantity %s = %d, %v", tc.in, q, err)
		}
		var bq bigQuantity
		err = json.Unmarshal([]byte(tc.in), &bq)
		if tc.ok && (err != nil || bq.Cmp(new(big.Int).SetUint64(tc.want)) != 0) {
			t.Errorf("bigQuantity %s = %s, %v", tc.in, &bq.Int, err)
		}
	}
}
