package cometbft

// The protobuf encodings and the Merkle tree CometBFT hashes and signs,
// built from protowire and tlog's RFC 6962 hashes. CometBFT's own generated
// types (gogoproto) and crypto/merkle cost about 3 MB of resident memory on
// an idle gateway, which the < 20 MB target has no room for; the tests check
// every encoding here against them, on real evidence and fuzzed values.
//
// proto3 rules as gogoproto applies them: a scalar field equal to zero and an
// empty bytes or string field are left out; a message field is written when
// present, and always when gogoproto declares it non-nullable (even empty).

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/encoding/protowire"
)

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendMessageField(b, num, v)
}

// appendMessageField writes an embedded message (or a oneof's bytes), even
// an empty one.
func appendMessageField(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendFixed64Field(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(v))
}

// Wrapper messages (google.protobuf.StringValue, Int64Value, BytesValue)
// for the header's fields; an empty value is no bytes at all.
func wrapString(s string) []byte {
	if s == "" {
		return nil
	}
	return appendBytesField(nil, 1, []byte(s))
}

func wrapInt(v int64) []byte {
	if v == 0 {
		return nil
	}
	return appendVarintField(nil, 1, uint64(v))
}

func wrapBytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return appendBytesField(nil, 1, v)
}

// Seconds of 0001-01-01 and 9999-12-31T23:59:59Z, the range of
// google.protobuf.Timestamp.
const (
	minTimestamp = -62135596800
	maxTimestamp = 253402300799
)

// encodeTime is a google.protobuf.Timestamp.
func encodeTime(t time.Time) ([]byte, error) {
	sec := t.Unix()
	if sec < minTimestamp || sec > maxTimestamp {
		return nil, fmt.Errorf("time %s is outside the years 1 to 9999", t.UTC().Format(time.RFC3339))
	}
	b := appendVarintField(nil, 1, uint64(sec))
	return appendVarintField(b, 2, uint64(t.Nanosecond())), nil
}

// encodePartSetHeader is a PartSetHeader or CanonicalPartSetHeader (the
// same fields).
func encodePartSetHeader(total uint32, hash []byte) []byte {
	b := appendVarintField(nil, 1, uint64(total))
	return appendBytesField(b, 2, hash)
}

// encodeBlockID is a BlockID or CanonicalBlockID; its part set header is
// non-nullable.
func encodeBlockID(b blockID) []byte {
	out := appendBytesField(nil, 1, b.Hash)
	return appendMessageField(out, 2, encodePartSetHeader(uint32(b.Parts.Total), b.Parts.Hash))
}

// encodeVersion is version.Consensus.
func encodeVersion(block, app uint64) []byte {
	return appendVarintField(appendVarintField(nil, 1, block), 2, app)
}

// encodeSimpleValidator is a SimpleValidator with an Ed25519 key: the key
// is the PublicKey oneof (field 1), written when not nil, even when empty.
func encodeSimpleValidator(ed25519Key []byte, power int64) []byte {
	var pk []byte
	if ed25519Key != nil {
		pk = appendMessageField(nil, 1, ed25519Key)
	}
	b := appendMessageField(nil, 1, pk)
	return appendVarintField(b, 2, uint64(power))
}

// precommitType is SignedMsgType PRECOMMIT.
const precommitType = 2

// voteSignBytes is what a validator signs for a precommit: the
// CanonicalVote, length-delimited (protoio.MarshalDelimited). The block id
// is present (a commit vote is for a block); the timestamp is non-nullable.
func voteSignBytes(chainID string, height int64, round int32, id blockID, ts time.Time) ([]byte, error) {
	tb, err := encodeTime(ts)
	if err != nil {
		return nil, fmt.Errorf("vote timestamp: %w", err)
	}
	b := appendVarintField(nil, 1, precommitType)
	b = appendFixed64Field(b, 2, height)
	b = appendFixed64Field(b, 3, int64(round))
	b = appendMessageField(b, 4, encodeBlockID(id))
	b = appendMessageField(b, 5, tb)
	b = appendBytesField(b, 6, []byte(chainID))
	return protowire.AppendBytes(nil, b), nil
}

// merkleRoot is CometBFT's HashFromByteSlices: the RFC 6962 tree hash,
// SHA-256 of nothing for no items.
func merkleRoot(items [][]byte) []byte {
	switch len(items) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		h := tlog.RecordHash(items[0])
		return h[:]
	}
	k := splitPoint(int64(len(items)))
	var l, r tlog.Hash
	copy(l[:], merkleRoot(items[:k]))
	copy(r[:], merkleRoot(items[k:]))
	h := tlog.NodeHash(l, r)
	return h[:]
}

// splitPoint is the largest power of two less than n (n > 1).
func splitPoint(n int64) int64 {
	return 1 << (bits.Len64(uint64(n-1)) - 1)
}

// maxAunts is CometBFT's bound on a proof's path (crypto/merkle).
const maxAunts = 100

// verifyTxProof checks a CometBFT Merkle proof (crypto/merkle's Proof:
// leaf index, total, leaf hash and the sibling hashes from the leaf up) of
// the item leaf against root. A block's data hash has each tx's SHA-256 as
// its items.
func verifyTxProof(root []byte, total, index int64, leafHash []byte, aunts [][]byte, leaf []byte) error {
	switch {
	case total < 0:
		return errors.New("negative total")
	case index < 0:
		return errors.New("negative index")
	case len(leafHash) != sha256.Size:
		return fmt.Errorf("leaf hash has %d bytes, want %d", len(leafHash), sha256.Size)
	case len(aunts) > maxAunts:
		return fmt.Errorf("%d aunts, at most %d allowed", len(aunts), maxAunts)
	}
	for i, a := range aunts {
		if len(a) != sha256.Size {
			return fmt.Errorf("aunt %d has %d bytes, want %d", i, len(a), sha256.Size)
		}
	}
	if lh := tlog.RecordHash(leaf); string(lh[:]) != string(leafHash) {
		return fmt.Errorf("the leaf hashes to %X, the proof says %X", lh[:], leafHash)
	}
	var lh tlog.Hash
	copy(lh[:], leafHash)
	got, ok := rootFromAunts(index, total, lh, aunts)
	if !ok {
		return errors.New("the proof's path does not fit its index and total")
	}
	if string(got[:]) != string(root) {
		return fmt.Errorf("the proof leads to %X, not %X", got[:], root)
	}
	return nil
}

// rootFromAunts climbs from the leaf at index of a tree of total leaves
// with the sibling hashes in aunts (innermost last), splitting as
// merkleRoot does.
func rootFromAunts(index, total int64, leaf tlog.Hash, aunts [][]byte) (tlog.Hash, bool) {
	if index >= total || index < 0 || total <= 0 {
		return tlog.Hash{}, false
	}
	if total == 1 {
		return leaf, len(aunts) == 0
	}
	if len(aunts) == 0 {
		return tlog.Hash{}, false
	}
	var last tlog.Hash
	copy(last[:], aunts[len(aunts)-1])
	k := splitPoint(total)
	if index < k {
		l, ok := rootFromAunts(index, k, leaf, aunts[:len(aunts)-1])
		return tlog.NodeHash(l, last), ok
	}
	r, ok := rootFromAunts(index-k, total-k, leaf, aunts[:len(aunts)-1])
	return tlog.NodeHash(last, r), ok
}
