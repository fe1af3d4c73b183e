package cometbft_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/cometnode"
)

// anchored is a made-up checkpoint; the backend only renders it.
var anchored = ledger.Anchored{Origin: "tally/gw-test", Size: 1234, Root: sha256.Sum256([]byte("root")), NoteSHA256: sha256.Sum256([]byte("note"))}

// receipt anchors `anchored` on a real 4-validator CometBFT testnet and
// returns the final receipt and the chain's trust root.
func receipt(t *testing.T) (*ledger.Receipt, ledger.Trust, *cometnode.Net) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net, err := cometnode.StartTestnet(ctx, t.TempDir(), 4, cometnode.Options{})
	if err != nil {
		t.Fatalf("start CometBFT testnet: %v", err)
	}
	t.Cleanup(func() { net.Stop() })
	trust, err := cometbft.TrustFromGenesis(net.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	be, err := cometbft.New(cometbft.Config{RPC: net.Node(0).RPC(), Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := be.Prepare(ctx, anchored, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sub.Raw), "=") || strings.Count(string(sub.Raw), "=") != 1 || strings.Contains(string(sub.Raw), ":") {
		t.Fatalf("default tx %q is not a kvstore key=value", sub.Raw)
	}
	if err := be.Broadcast(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := be.Broadcast(ctx, sub); err != nil {
		t.Fatalf("a second broadcast of the same tx: %v", err)
	}
	for {
		state, r, err := be.Check(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if state == ledger.Final {
			return r, trust, net
		}
		if ctx.Err() != nil {
			t.Fatal("the tx was not committed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func verify(r *ledger.Receipt, trust ledger.Trust) ([]ledger.Step, error) {
	var s ledger.Steps
	if err := cometbft.Verify(&s, r, trust); err != nil {
		return s.List, err
	}
	err := ledger.CheckPayload(&s, r, anchored)
	return s.List, err
}

// libEvidence is the evidence decoded with CometBFT's own types, which the
// tests use as the reference tally's verifier must agree with.
type libEvidence struct {
	SignedHeader *types.SignedHeader `json:"signed_header"`
	Validators   []*types.Validator  `json:"validators"`
	TxProof      types.TxProof       `json:"tx_proof"`
}

// editEvidence decodes, edits and re-encodes a receipt's evidence.
func editEvidence(t *testing.T, r *ledger.Receipt, edit func(*libEvidence)) {
	t.Helper()
	var ev libEvidence
	if err := cmtjson.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	edit(&ev)
	raw, err := cmtjson.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	r.Evidence = raw
}

// dropSignatures marks the first n present commit signatures absent.
func dropSignatures(n int) func(*libEvidence) {
	return func(ev *libEvidence) {
		for i, sig := range ev.SignedHeader.Commit.Signatures {
			if n > 0 && sig.BlockIDFlag == types.BlockIDFlagCommit {
				ev.SignedHeader.Commit.Signatures[i] = types.NewCommitSigAbsent()
				n--
			}
		}
	}
}

// signed counts the commit's signatures for the block.
func signed(t *testing.T, r *ledger.Receipt) int {
	n := 0
	editEvidence(t, r, func(ev *libEvidence) {
		for _, sig := range ev.SignedHeader.Commit.Signatures {
			if sig.BlockIDFlag == types.BlockIDFlagCommit {
				n++
			}
		}
	})
	return n
}

func TestEvidenceTampering(t *testing.T) {
	r, trust, net := receipt(t)
	steps, err := verify(r, trust)
	if err != nil {
		t.Fatalf("genuine receipt: %v", err)
	}
	agreeWithLibrary(t, r, trust, net)
	names := []string{}
	for _, s := range steps {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "chain id,validator set,signed header,commit,tx in block,checkpoint in tx" {
		t.Fatalf("steps %s", got)
	}
	// One of four validators not signing still leaves 3/4 > 2/3.
	if n := signed(t, r); n == 4 {
		one := *r
		editEvidence(t, &one, dropSignatures(1))
		if _, err := verify(&one, trust); err != nil {
			t.Fatalf("a commit signed by 3 of 4 validators: %v", err)
		}
	} else {
		t.Logf("the commit has %d of 4 signatures: the 3-of-4 case is already the genuine one", n)
	}
	otherGenesis := filepath.Join(t.TempDir(), "genesis.json")
	writeOtherGenesis(t, net.Genesis(), otherGenesis)
	other, err := cometbft.TrustFromGenesis(otherGenesis)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct {
		edit  func(*ledger.Receipt)
		trust ledger.Trust
		step  string
	}{
		"flipped tx byte in the proof": {func(r *ledger.Receipt) {
			editEvidence(t, r, func(ev *libEvidence) { ev.TxProof.Data[3] ^= 1 })
		}, trust, "tx in block"},
		"flipped payload byte": {func(r *ledger.Receipt) { r.Payload[3] ^= 1 }, trust, "tx in block"},
		// Names are exact: "Signed_Header" is an unknown member, so the
		// evidence has no signed header.
		"signed header under another case": {func(r *ledger.Receipt) {
			r.Evidence = json.RawMessage(strings.Replace(string(r.Evidence), `"signed_header"`, `"Signed_Header"`, 1))
		}, trust, "chain id"},
		"commit with too few signatures (2 of 4)": {func(r *ledger.Receipt) {
			editEvidence(t, r, dropSignatures(2))
		}, trust, "commit"},
		"forged signature": {func(r *ledger.Receipt) {
			editEvidence(t, r, func(ev *libEvidence) {
				for i, sig := range ev.SignedHeader.Commit.Signatures {
					if sig.BlockIDFlag == types.BlockIDFlagCommit {
						ev.SignedHeader.Commit.Signatures[i].Signature[5] ^= 1
						return
					}
				}
			})
		}, trust, "commit"},
		"wrong validator set pinned": {func(r *ledger.Receipt) {}, ledger.Trust{ChainID: trust.ChainID, ValidatorsHash: other.ValidatorsHash}, "validator set"},
		"validators swapped in the evidence": {func(r *ledger.Receipt) {
			editEvidence(t, r, func(ev *libEvidence) { ev.Validators = ev.Validators[:3] })
		}, trust, "validator set"},
		"root not in tx": {func(r *ledger.Receipt) {
			wrong := anchored
			wrong.Root[0] ^= 1
			r.Payload, _ = ledger.Render(r.TxFormat, wrong)
		}, trust, "tx in block"},
		"receipt for another checkpoint": {func(r *ledger.Receipt) { r.TxFormat = strings.Replace(r.TxFormat, "{size}", "{size}0", 1) }, trust, "checkpoint in tx"},
		"wrong chain id pinned":          {func(r *ledger.Receipt) {}, ledger.Trust{ChainID: "other-chain", ValidatorsHash: trust.ValidatorsHash}, "chain id"},
		"receipt names another chain":    {func(r *ledger.Receipt) { r.Network = "other-chain" }, trust, "chain id"},
		"header edited": {func(r *ledger.Receipt) {
			editEvidence(t, r, func(ev *libEvidence) {
				ev.SignedHeader.Header.Time = ev.SignedHeader.Header.Time.Add(time.Second)
			})
		}, trust, "signed header"},
		"evidence not JSON": {func(r *ledger.Receipt) { r.Evidence = json.RawMessage(`[1,2`) }, trust, "chain id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := *r
			c.Payload = append([]byte(nil), r.Payload...)
			c.Evidence = append(json.RawMessage(nil), r.Evidence...)
			tc.edit(&c)
			steps, err := verify(&c, tc.trust)
			var se *ledger.StepError
			if !errors.As(err, &se) || se.Step != tc.step {
				t.Fatalf("got %v, want failure at %q (steps %+v)", err, tc.step, steps)
			}
			if last := steps[len(steps)-1]; last.OK || last.Name != tc.step {
				t.Fatalf("last step %+v", last)
			}
		})
	}

	t.Run("online", func(t *testing.T) {
		// Ask another validator: wait until it has applied the block.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			h, err := net.Node(1).Height(ctx)
			if err == nil && h > r.Height {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node1 did not reach height %d: %v", r.Height+1, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var s ledger.Steps
		if err := cometbft.VerifyOnline(context.Background(), &s, r, net.Node(1).RPC()); err != nil {
			t.Fatal(err)
		}
		c := *r
		c.BlockHash = strings.Repeat("ab", 32)
		if err := cometbft.VerifyOnline(context.Background(), &s, &c, net.Node(1).RPC()); err == nil {
			t.Fatal("a wrong block hash passed the online check")
		}
	})
}

// agreeWithLibrary checks tally's hand-assembled verification against
// cometbft/types on the same evidence: header hash, validator set hash,
// commit, tx proof and the genesis trust root.
func agreeWithLibrary(t *testing.T, r *ledger.Receipt, trust ledger.Trust, net *cometnode.Net) {
	t.Helper()
	var ev libEvidence
	if err := cmtjson.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	h := ev.SignedHeader.Header
	if got := strings.ToLower(h.Hash().String()); got != r.BlockHash {
		t.Fatalf("block hash: library %s, tally %s", got, r.BlockHash)
	}
	vals := types.NewValidatorSet(ev.Validators)
	if !bytes.Equal(vals.Hash(), h.ValidatorsHash) || !bytes.Equal(vals.Hash(), trust.ValidatorsHash) {
		t.Fatalf("validator set hash: library %X, header %X, tally's genesis trust %X", vals.Hash(), h.ValidatorsHash, trust.ValidatorsHash)
	}
	if err := vals.VerifyCommitLightAllSignatures(h.ChainID, ev.SignedHeader.Commit.BlockID, h.Height, ev.SignedHeader.Commit); err != nil {
		t.Fatalf("library commit check: %v", err)
	}
	if err := ev.TxProof.Validate(h.DataHash); err != nil {
		t.Fatalf("library tx proof check: %v", err)
	}
	doc, err := types.GenesisDocFromFile(net.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc.ValidatorHash(), trust.ValidatorsHash) || doc.ChainID != trust.ChainID {
		t.Fatalf("genesis trust: library %X %s, tally %X %s", doc.ValidatorHash(), doc.ChainID, trust.ValidatorsHash, trust.ChainID)
	}
}

// writeOtherGenesis writes a genesis with one validator key changed: a
// different validator set of the same chain id.
func writeOtherGenesis(t *testing.T, from, to string) {
	doc, err := types.GenesisDocFromFile(from)
	if err != nil {
		t.Fatal(err)
	}
	doc.Validators[0].Power++
	if err := doc.SaveAs(to); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(to); err != nil {
		t.Fatal(err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"signed_header":null}`), []byte("x=y"))
	f.Add([]byte(`{"signed_header":{"header":{"chain_id":"c","height":"1"},"commit":{"height":"1","signatures":[]}},"validators":[],"tx_proof":{}}`), []byte("x=y"))
	f.Fuzz(func(t *testing.T, evidence, payload []byte) {
		r := &ledger.Receipt{Ledger: cometbft.Kind, Network: "c", TxFormat: ledger.DefaultTxFormat, Payload: payload, Evidence: evidence, Height: 1}
		var s ledger.Steps
		if err := cometbft.Verify(&s, r, ledger.Trust{}); err == nil {
			t.Fatalf("made-up evidence verified: %s", evidence)
		}
	})
}

// TestTxFormat: a consortium's own payload format is used as configured and
// verifies; one the app refuses gives an error that says so.
func TestTxFormat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	net, err := cometnode.StartSingle(ctx, t.TempDir(), cometnode.Options{})
	if err != nil {
		t.Fatalf("start CometBFT: %v", err)
	}
	defer net.Stop()
	trust, err := cometbft.TrustFromGenesis(net.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	custom := "anchor/{origin}/{size}={root_hex}"
	be, err := cometbft.New(cometbft.Config{RPC: net.Node(0).RPC(), TxFormat: custom, Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := be.Prepare(ctx, anchored, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "anchor/tally/gw-test/1234=" + hex.EncodeToString(anchored.Root[:]); string(sub.Raw) != want {
		t.Fatalf("tx %q, want %q", sub.Raw, want)
	}
	if err := be.Broadcast(ctx, sub); err != nil {
		t.Fatal(err)
	}
	for {
		state, r, err := be.Check(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if state == ledger.Final {
			if r.TxFormat != custom {
				t.Fatalf("receipt format %q", r.TxFormat)
			}
			if _, err := verify(r, trust); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// kvstore takes key=value only: a payload without '=' is refused at CheckTx.
	bad, err := cometbft.New(cometbft.Config{RPC: net.Node(0).RPC(), TxFormat: "anchor {size} {root_hex}"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err = bad.Prepare(ctx, anchored, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Broadcast(ctx, sub); err == nil || !strings.Contains(err.Error(), "refused the anchor tx") || !strings.Contains(err.Error(), "tx_format") {
		t.Fatalf("broadcast of a tx kvstore refuses: %v", err)
	}
}
