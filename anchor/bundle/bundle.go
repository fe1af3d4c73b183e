// Package bundle builds and verifies proof bundles: everything an auditor
// needs to check one reading offline, without the gateway's store — the
// signed envelope, its leaf index, an inclusion proof to a signed checkpoint,
// the gateway's public keys and (once anchoring exists) the anchor receipt.
package bundle

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/jsonexact"
)

// Format names the layout of a bundle without an anchor (its "format"
// member); FormatAnchored the layout with one (docs/FORMATS.md §5).
const (
	Format         = "tally-proof-bundle/1"
	FormatAnchored = "tally-proof-bundle/2"
)

// Bundle is the JSON proof bundle for one reading. Byte strings are
// standard base64 (RFC 4648 §4, with padding), as encoding/json writes them.
type Bundle struct {
	Format     string     `json:"format"`
	Origin     string     `json:"origin"`
	Seq        int64      `json:"seq"`
	Envelope   []byte     `json:"envelope"`
	TreeSize   int64      `json:"tree_size"`
	Inclusion  [][]byte   `json:"inclusion_proof"`
	Checkpoint string     `json:"checkpoint"`
	Keys       PublicKeys `json:"keys"`
	Anchor     *Anchor    `json:"anchor"` // null until a ledger anchor covers the reading
}

// Anchor is the ledger anchor covering the bundle's checkpoint: the anchored
// checkpoint (the same or a later one), an RFC 6962 consistency proof from
// the bundle's checkpoint to it, and the ledger receipt.
type Anchor struct {
	Checkpoint  string         `json:"checkpoint"`        // the anchored signed checkpoint note
	Consistency [][]byte       `json:"consistency_proof"` // from tree_size to the anchored size; empty when equal
	Receipt     ledger.Receipt `json:"receipt"`
}

// PublicKeys are the gateway's public keys as a bundle carries them.
type PublicKeys struct {
	Ed25519 []byte `json:"ed25519"`  // 32 bytes
	MLDSA65 []byte `json:"mldsa65"`  // 1952 bytes, FIPS 204 encoding
	NoteKey string `json:"note_key"` // the Ed25519 key as a note verifier key
}

// NewPublicKeys returns the bundle form of keys.
func NewPublicKeys(k checkpoint.Keys) (PublicKeys, error) {
	vkey, err := k.Ed25519VerifierKey()
	if err != nil {
		return PublicKeys{}, err
	}
	return PublicKeys{Ed25519: k.Ed25519, MLDSA65: k.MLDSA65.Bytes(), NoteKey: vkey}, nil
}

// CheckpointKeys decodes the keys for origin and checks note_key is the
// Ed25519 key's note verifier key.
func (p PublicKeys) CheckpointKeys(origin string) (checkpoint.Keys, error) {
	if len(p.Ed25519) != ed25519.PublicKeySize {
		return checkpoint.Keys{}, fmt.Errorf("ed25519 public key is %d bytes, want %d", len(p.Ed25519), ed25519.PublicKeySize)
	}
	var ml mldsa65.PublicKey
	if err := ml.UnmarshalBinary(p.MLDSA65); err != nil {
		return checkpoint.Keys{}, fmt.Errorf("ML-DSA-65 public key: %w", err)
	}
	k := checkpoint.Keys{Origin: origin, Ed25519: ed25519.PublicKey(p.Ed25519), MLDSA65: &ml}
	vkey, err := k.Ed25519VerifierKey()
	if err != nil {
		return checkpoint.Keys{}, err
	}
	if p.NoteKey != vkey {
		return checkpoint.Keys{}, fmt.Errorf("note_key %q is not the Ed25519 key under origin %s (want %q)", p.NoteKey, origin, vkey)
	}
	return k, nil
}

var gatewayID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// MaxSafeInt is the largest seq or tree size a bundle may carry: JSON
// numbers are exact in every language only up to 2^53-1.
const MaxSafeInt = 1<<53 - 1

// Step is one verification step and its outcome.
type Step = ledger.Step

// StepError is returned when a step fails.
type StepError = ledger.StepError

// Options for Verify.
type Options struct {
	// Pinned, when set, are the keys the auditor trusts (from `tally id
	// --json` or the consortium's registry). The bundle's keys must equal
	// them. Without it the bundle's own keys are used and Verify says so.
	Pinned *PublicKeys
	// PinnedOrigin, when set, is the registered origin; the bundle's must
	// equal it.
	PinnedOrigin string
	// Trust pins the ledger's trust root (chain id, CometBFT validator set
	// hash, EVM sender).
	Trust ledger.Trust
	// Online, when set, is a ledger node's RPC URL: the anchor transaction is
	// read again from it.
	Online string
	// Context bounds the online check.
	Context context.Context
}

// Verify checks every step and returns the steps it took. It stops at the
// first failing step and returns a *StepError naming it.
func Verify(b *Bundle, opts Options) ([]Step, error) {
	var s ledger.Steps
	ok := s.OK
	fail := func(name string, err error) ([]Step, error) {
		err = s.Fail(name, err)
		return s.List, err
	}

	switch {
	case b.Format == Format && b.Anchor != nil:
		return fail("format", fmt.Errorf("a %s bundle has no anchor (anchored bundles are %s)", Format, FormatAnchored))
	case b.Format == FormatAnchored && b.Anchor == nil:
		return fail("format", fmt.Errorf("a %s bundle must carry an anchor", FormatAnchored))
	case b.Format != Format && b.Format != FormatAnchored:
		return fail("format", fmt.Errorf("bundle format %q is not %q or %q", b.Format, Format, FormatAnchored))
	}
	if id, found := strings.CutPrefix(b.Origin, "tally/"); !found || !gatewayID.MatchString(id) {
		return fail("format", fmt.Errorf("origin %q is not tally/<gateway id>", b.Origin))
	}
	if b.Seq < 0 || b.TreeSize < 0 || b.Seq > MaxSafeInt || b.TreeSize > MaxSafeInt {
		return fail("format", fmt.Errorf("seq %d or tree_size %d is out of range 0..2^53-1", b.Seq, b.TreeSize))
	}
	ok("format", "%s, origin %s", b.Format, b.Origin)

	keys, err := b.Keys.CheckpointKeys(b.Origin)
	if err != nil {
		return fail("keys", err)
	}
	if opts.PinnedOrigin != "" && opts.PinnedOrigin != b.Origin {
		return fail("keys", fmt.Errorf("the bundle's origin %s is not the pinned origin %s", b.Origin, opts.PinnedOrigin))
	}
	if opts.Pinned != nil {
		if string(opts.Pinned.Ed25519) != string(b.Keys.Ed25519) || string(opts.Pinned.MLDSA65) != string(b.Keys.MLDSA65) {
			return fail("keys", errors.New("the bundle's public keys are not the pinned gateway keys"))
		}
		ok("keys", "bundle keys match the pinned keys (Ed25519 kid %x, note key hashes %08x/%08x)", envelope.KeyID(keys.Ed25519), keys.Ed25519KeyHash(), keys.MLDSAKeyHash())
	} else {
		ok("keys", "taken from the bundle, NOT pinned (pass the gateway's registered keys to pin them); Ed25519 kid %x", envelope.KeyID(keys.Ed25519))
	}

	body, err := envelope.Open(b.Envelope, keys.Ed25519)
	if err != nil {
		return fail("reading signature", err)
	}
	ok("reading signature", "COSE_Sign1 EdDSA signature valid (%d bytes)", len(b.Envelope))

	p, err := envelope.DecodePayload(body)
	if err != nil {
		return fail("reading payload", err)
	}

	if want := "tally/" + p.Gateway; want != b.Origin {
		return fail("reading payload", fmt.Errorf("payload gateway %q does not match origin %q", p.Gateway, b.Origin))
	}
	if int64(p.Seq) != b.Seq {
		return fail("reading payload", fmt.Errorf("payload seq %d is not the bundle's leaf index %d", p.Seq, b.Seq))
	}
	ok("reading payload", "gateway %s, seq %d, sensor %s, kind %s", p.Gateway, p.Seq, p.Sensor, p.Kind)

	leaf := tlog.RecordHash(b.Envelope)
	ok("leaf hash", "SHA-256(0x00 || envelope) = %s", hex.EncodeToString(leaf[:]))

	cp, err := checkpoint.Open([]byte(b.Checkpoint), keys)
	if err != nil {
		return fail("checkpoint signatures", err)
	}
	if cp.Size != b.TreeSize {
		return fail("checkpoint signatures", fmt.Errorf("checkpoint size %d is not the bundle's tree_size %d", cp.Size, b.TreeSize))
	}
	ok("checkpoint signatures", "Ed25519 and ML-DSA-65 signatures valid; origin %s, size %d, root %s", cp.Origin, cp.Size, hex.EncodeToString(cp.Root[:]))

	if b.Seq < 0 || b.Seq >= cp.Size {
		return fail("inclusion", fmt.Errorf("seq %d is outside the checkpoint's tree of size %d", b.Seq, cp.Size))
	}
	proof := make(tlog.RecordProof, len(b.Inclusion))
	for i, h := range b.Inclusion {
		if len(h) != tlog.HashSize {
			return fail("inclusion", fmt.Errorf("proof hash %d is %d bytes, want 32", i, len(h)))
		}
		copy(proof[i][:], h)
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, b.Seq, leaf); err != nil {
		return fail("inclusion", fmt.Errorf("inclusion proof does not lead to the checkpoint root: %w", err))
	}
	ok("inclusion", "leaf %d is in the tree of size %d (%d proof hashes)", b.Seq, cp.Size, len(proof))

	if b.Anchor == nil {
		ok("anchor", "none: this checkpoint is not anchored on a ledger yet (signed by the gateway only)")
		return s.List, nil
	}
	if err := verifyAnchor(&s, b.Anchor, cp, keys, opts); err != nil {
		return s.List, err
	}
	return s.List, nil
}

// verifyAnchor checks the anchored checkpoint, its consistency with the
// bundle's checkpoint, the ledger's evidence and the payload.
func verifyAnchor(s *ledger.Steps, a *Anchor, cp checkpoint.Checkpoint, keys checkpoint.Keys, opts Options) error {
	acp, err := checkpoint.Open([]byte(a.Checkpoint), keys)
	if err != nil {
		return s.Fail("anchored checkpoint", err)
	}
	if acp.Size < cp.Size {
		return s.Fail("anchored checkpoint", fmt.Errorf("the anchored checkpoint (size %d) is older than the bundle's (size %d)", acp.Size, cp.Size))
	}
	s.OK("anchored checkpoint", "Ed25519 and ML-DSA-65 signatures valid; size %d, root %s", acp.Size, hex.EncodeToString(acp.Root[:]))

	proof := make(tlog.TreeProof, len(a.Consistency))
	for i, h := range a.Consistency {
		if len(h) != tlog.HashSize {
			return s.Fail("consistency", fmt.Errorf("proof hash %d is %d bytes, want 32", i, len(h)))
		}
		copy(proof[i][:], h)
	}
	if acp.Size == cp.Size {
		if len(proof) != 0 || acp.Root != cp.Root {
			return s.Fail("consistency", errors.New("the anchored checkpoint has the bundle checkpoint's size but not its root (or a proof where none is needed)"))
		}
		s.OK("consistency", "the anchored checkpoint is the bundle's checkpoint")
	} else {
		if err := tlog.CheckTree(proof, acp.Size, acp.Root, cp.Size, cp.Root); err != nil {
			return s.Fail("consistency", fmt.Errorf("the anchored tree of size %d does not extend the bundle's tree of size %d: %w", acp.Size, cp.Size, err))
		}
		s.OK("consistency", "the anchored tree of size %d extends the tree of size %d (RFC 6962 consistency proof, %d hashes)", acp.Size, cp.Size, len(proof))
	}

	an := ledger.Anchored{Origin: acp.Origin, Size: acp.Size, Root: acp.Root, NoteSHA256: sha256.Sum256([]byte(a.Checkpoint))}
	return VerifyReceipt(s, &a.Receipt, an, opts)
}

// VerifyReceipt checks a ledger receipt for the anchored checkpoint an: the
// ledger's own evidence (offline, against opts.Trust), that the transaction
// carries the checkpoint, and with opts.Online the ledger node's answer.
func VerifyReceipt(s *ledger.Steps, r *ledger.Receipt, an ledger.Anchored, opts Options) error {
	var err error
	switch r.Ledger {
	case cometbft.Kind:
		if opts.Trust.Sender != "" {
			return s.Fail("ledger", errors.New("a sender is pinned, which is for EVM receipts, but the bundle is anchored on CometBFT: pin the chain's genesis or validator set instead"))
		}
		err = cometbft.Verify(s, r, opts.Trust)
	case evm.Kind:
		if len(opts.Trust.ValidatorsHash) > 0 {
			return s.Fail("ledger", errors.New("a CometBFT validator set (or genesis) is pinned, but the bundle is anchored on an EVM chain: pin its chain id and sender instead"))
		}
		err = evm.Verify(s, r, opts.Trust)
	default:
		return s.Fail("ledger", fmt.Errorf("ledger kind %q is not one this tally verifies (cometbft, evm)", r.Ledger))
	}
	if err != nil {
		return err
	}
	if err := ledger.CheckPayload(s, r, an); err != nil {
		return err
	}
	if opts.Online == "" {
		return nil
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if r.Ledger == cometbft.Kind {
		return cometbft.VerifyOnline(ctx, s, r, opts.Online)
	}
	return evm.VerifyOnline(ctx, s, r, opts.Online)
}

// Decode parses a bundle, rejecting unknown and missing members.
func Decode(data []byte) (*Bundle, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("bundle is not a JSON object: %w", err)
	}
	if members == nil {
		return nil, errors.New("bundle is null, not a JSON object")
	}
	if err := requireMembers(members, "bundle", "format", "origin", "seq", "envelope", "tree_size", "inclusion_proof", "checkpoint", "keys", "anchor"); err != nil {
		return nil, err
	}
	if err := requireMembers(object(members["keys"]), "bundle keys", "ed25519", "mldsa65", "note_key"); err != nil {
		return nil, err
	}
	if anchor := object(members["anchor"]); anchor != nil {
		if err := requireMembers(anchor, "bundle anchor", "checkpoint", "consistency_proof", "receipt"); err != nil {
			return nil, err
		}
		if err := requireMembers(object(anchor["receipt"]), "bundle receipt", "ledger", "network", "tx_id", "height", "block_hash", "block_time", "tx_format", "payload", "evidence"); err != nil {
			return nil, err
		}
	}
	// encoding/json matches names ignoring case; FORMATS.md's are exact.
	if err := jsonexact.Check(data, &Bundle{}); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("bundle is not valid JSON of format %s or %s: %w", Format, FormatAnchored, err)
	}
	return &b, nil
}

// object decodes raw as a JSON object; nil when it is not one (the
// decoding that follows reports that).
func object(raw json.RawMessage) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	return obj
}

// requireMembers returns an error when obj lacks one of names; a nil obj
// is left to the decoding.
func requireMembers(obj map[string]json.RawMessage, what string, names ...string) error {
	if obj == nil {
		return nil
	}
	for _, n := range names {
		if _, ok := obj[n]; !ok {
			return fmt.Errorf("%s has no %q member", what, n)
		}
	}
	return nil
}
