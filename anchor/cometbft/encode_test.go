package cometbft

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/merkle"
	"github.com/cometbft/cometbft/libs/protoio"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	gogotypes "github.com/cosmos/gogoproto/types"
)

// The encodings in encode.go are checked here against CometBFT's generated
// types and crypto/merkle, which the daemon does not link.

func mustMarshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEncodings compares every encoder with CometBFT's for one set of
// values.
func checkEncodings(t *testing.T, s string, v int64, u uint32, b1, b2 []byte, ts time.Time) {
	t.Helper()
	// A wrapper of an empty value is no bytes at all (CometBFT's cdcEncode).
	wrap := func(empty bool, m interface{ Marshal() ([]byte, error) }) []byte {
		if empty {
			return nil
		}
		return mustMarshal(t, m)
	}
	if got, want := wrapString(s), wrap(s == "", &gogotypes.StringValue{Value: s}); !bytes.Equal(got, want) {
		t.Fatalf("wrapString(%q) = %x, want %x", s, got, want)
	}
	if got, want := wrapInt(v), wrap(v == 0, &gogotypes.Int64Value{Value: v}); !bytes.Equal(got, want) {
		t.Fatalf("wrapInt(%d) = %x, want %x", v, got, want)
	}
	if got, want := wrapBytes(b1), wrap(len(b1) == 0, &gogotypes.BytesValue{Value: b1}); !bytes.Equal(got, want) {
		t.Fatalf("wrapBytes(%x) = %x, want %x", b1, got, want)
	}
	if got, want := encodeVersion(uint64(v), uint64(u)), mustMarshal(t, &cmtversion.Consensus{Block: uint64(v), App: uint64(u)}); !bytes.Equal(got, want) {
		t.Fatalf("encodeVersion = %x, want %x", got, want)
	}
	var id blockID
	id.Hash, id.Parts.Total, id.Parts.Hash = b1, num(u), b2
	pid := cmtproto.BlockID{Hash: b1, PartSetHeader: cmtproto.PartSetHeader{Total: u, Hash: b2}}
	if got, want := encodeBlockID(id), mustMarshal(t, &pid); !bytes.Equal(got, want) {
		t.Fatalf("encodeBlockID = %x, want %x", got, want)
	}
	pk := cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: b2}}
	if got, want := encodeSimpleValidator(b2, v), mustMarshal(t, &cmtproto.SimpleValidator{PubKey: &pk, VotingPower: v}); !bytes.Equal(got, want) {
		t.Fatalf("encodeSimpleValidator = %x, want %x", got, want)
	}
	wantTS, libErr := gogotypes.StdTimeMarshal(ts)
	gotTS, err := encodeTime(ts)
	if (err != nil) != (libErr != nil) {
		t.Fatalf("encodeTime(%v): error %v, gogoproto's %v", ts, err, libErr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(gotTS, wantTS) {
		t.Fatalf("encodeTime(%v) = %x, want %x", ts, gotTS, wantTS)
	}
	vote := cmtproto.CanonicalVote{
		Type: cmtproto.PrecommitType, Height: v, Round: int64(int32(u)),
		BlockID:   &cmtproto.CanonicalBlockID{Hash: b1, PartSetHeader: cmtproto.CanonicalPartSetHeader{Total: u, Hash: b2}},
		Timestamp: ts, ChainID: s,
	}
	want, err := protoio.MarshalDelimited(&vote)
	if err != nil {
		t.Fatal(err)
	}
	got, err := voteSignBytes(s, v, int32(u), id, ts)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("voteSignBytes = %x, %v; want %x", got, err, want)
	}
}

func TestEncodingsMatchCometBFT(t *testing.T) {
	when := time.Date(2026, 11, 21, 9, 3, 45, 349000001, time.UTC)
	cases := []struct {
		s      string
		v      int64
		u      uint32
		b1, b2 []byte
		ts     time.Time
	}{
		{"", 0, 0, nil, nil, time.Unix(0, 0)},
		{"tally-demo", 51, 1, bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{1}, 32), when},
		{"c", -1, 1<<32 - 1, []byte{0}, []byte{}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"x", 1 << 62, 7, nil, []byte{9}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"out of range", 3, 3, nil, nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"before year 1", 3, 3, nil, nil, time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		checkEncodings(t, c.s, c.v, c.u, c.b1, c.b2, c.ts)
	}
}

func FuzzEncodings(f *testing.F) {
	f.Add("tally-demo", int64(51), uint32(1), []byte{1, 2}, []byte{3}, int64(1763715825), int32(349000001))
	f.Add("", int64(0), uint32(0), []byte{}, []byte{}, int64(-62135596801), int32(0))
	f.Fuzz(func(t *testing.T, s string, v int64, u uint32, b1, b2 []byte, sec int64, nsec int32) {
		if nsec < 0 || nsec >= 1e9 {
			nsec = 0
		}
		checkEncodings(t, s, v, u, b1, b2, time.Unix(sec, int64(nsec)).UTC())
	})
}

// leaves returns n distinct items.
func leaves(n int) [][]byte {
	items := make([][]byte, n)
	for i := range items {
		items[i] = binary.BigEndian.AppendUint32(nil, uint32(i))
	}
	return items
}

func TestMerkleMatchesCometBFT(t *testing.T) {
	for n := 0; n <= 70; n++ {
		items := leaves(n)
		root := merkleRoot(items)
		if want := merkle.HashFromByteSlices(items); !bytes.Equal(root, want) {
			t.Fatalf("%d items: root %x, want %x", n, root, want)
		}
		libRoot, proofs := merkle.ProofsFromByteSlices(items)
		for i, p := range proofs {
			if err := verifyTxProof(libRoot, p.Total, p.Index, p.LeafHash, p.Aunts, items[i]); err != nil {
				t.Fatalf("%d items, leaf %d: %v", n, i, err)
			}
			// Every single-point change must fail here as it does in
			// CometBFT.
			if n > 1 {
				if verifyTxProof(libRoot, p.Total, (p.Index+1)%p.Total, p.LeafHash, p.Aunts, items[i]) == nil {
					t.Fatalf("%d items, leaf %d accepted at index %d", n, i, (p.Index+1)%p.Total)
				}
				if verifyTxProof(libRoot, p.Total, p.Index, p.LeafHash, p.Aunts, items[(i+1)%n]) == nil {
					t.Fatalf("%d items: leaf %d's proof accepted another leaf", n, i)
				}
				bad := append([][]byte(nil), p.Aunts...)
				bad[0] = sha256.New().Sum([]byte{1})[:32]
				if verifyTxProof(libRoot, p.Total, p.Index, p.LeafHash, bad, items[i]) == nil {
					t.Fatalf("%d items, leaf %d: an edited aunt was accepted", n, i)
				}
			}
		}
	}
}

// FuzzTxProof checks that verifyTxProof accepts exactly what crypto/merkle
// accepts, for proofs edited in every field.
func FuzzTxProof(f *testing.F) {
	f.Add(uint8(5), uint8(2), int64(0), int64(0), uint8(0), []byte{})
	f.Add(uint8(1), uint8(0), int64(1), int64(0), uint8(0), []byte{})
	f.Add(uint8(9), uint8(8), int64(0), int64(-1), uint8(1), []byte{7})
	f.Fuzz(func(t *testing.T, n, i uint8, dTotal, dIndex int64, cut uint8, extra []byte) {
		if n == 0 {
			return
		}
		items := leaves(int(n))
		root, proofs := merkle.ProofsFromByteSlices(items)
		p := *proofs[int(i)%len(proofs)]
		p.Total += dTotal
		p.Index += dIndex
		if int(cut) <= len(p.Aunts) {
			p.Aunts = p.Aunts[:len(p.Aunts)-int(cut)]
		}
		if len(extra) > 0 {
			p.Aunts = append(p.Aunts, sha256.New().Sum(extra)[len(extra):])
		}
		leaf := items[int(i)%len(items)]
		want := p.ValidateBasic() == nil && p.Verify(root, leaf) == nil
		got := verifyTxProof(root, p.Total, p.Index, p.LeafHash, p.Aunts, leaf)
		if (got == nil) != want {
			t.Fatalf("proof %+v: tally %v, crypto/merkle accepts: %v", p, got, want)
		}
	})
}
