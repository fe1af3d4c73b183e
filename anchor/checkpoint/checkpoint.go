// Package checkpoint signs and opens tally checkpoints: C2SP tlog-checkpoint
// signed notes (origin line, tree size, base64 root hash) carrying two
// signatures by the gateway, Ed25519 (note signature type 0x01) and
// ML-DSA-65 (FIPS 204, empty context; type 0xff followed by "ML-DSA-65").
// A checkpoint is valid only when both signatures verify.
package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MLDSAType is the note signature type prefix of ML-DSA-65 keys: 0xff followed
// by the ASCII algorithm name.
var MLDSAType = append([]byte{0xff}, "ML-DSA-65"...)

// Checkpoint is the content of a checkpoint note.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the checkpoint body: three lines, each ending in a newline.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseText parses a checkpoint body. Extension lines after the root are
// rejected: tally writes none.
func ParseText(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("checkpoint body must be exactly origin, size and root lines")
	}
	origin := lines[0]
	if origin == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint origin line is empty")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q is not a decimal tree size", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	var h tlog.Hash
	copy(h[:], root)
	return Checkpoint{Origin: origin, Size: size, Root: h}, nil
}

// Keys are a gateway's public keys and the origin its checkpoints name.
// The origin is also the note key name of both keys.
type Keys struct {
	Origin  string
	Ed25519 ed25519.PublicKey
	MLDSA65 *mldsa65.PublicKey
}

// Ed25519KeyHash is the note key ID of the Ed25519 key.
func (k Keys) Ed25519KeyHash() uint32 {
	return keyHash(k.Origin, append([]byte{0x01}, k.Ed25519...))
}

// MLDSAKeyHash is the note key ID of the ML-DSA-65 key:
// SHA-256(origin ‖ 0x0A ‖ 0xff ‖ "ML-DSA-65" ‖ public key)[:4].
func (k Keys) MLDSAKeyHash() uint32 {
	return keyHash(k.Origin, append(append([]byte{}, MLDSAType...), k.MLDSA65.Bytes()...))
}

// Ed25519VerifierKey is the note verifier key string of the Ed25519 key.
func (k Keys) Ed25519VerifierKey() (string, error) {
	return note.NewEd25519VerifierKey(k.Origin, k.Ed25519)
}

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Signer signs checkpoints with both gateway keys.
type Signer struct {
	keys Keys
	ed   note.Signer
	ml   *mldsaSigner
}

// NewSigner returns a Signer for origin with the two private keys.
func NewSigner(origin string, ed ed25519.PrivateKey, ml *mldsa65.PrivateKey) (*Signer, error) {
	keys := Keys{Origin: origin, Ed25519: ed.Public().(ed25519.PublicKey), MLDSA65: ml.Public().(*mldsa65.PublicKey)}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, keys.Ed25519KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{0x01}, ed.Seed()...)))
	edSigner, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer for origin %q: %w", origin, err)
	}
	return &Signer{keys: keys, ed: edSigner, ml: &mldsaSigner{name: origin, hash: keys.MLDSAKeyHash(), sk: ml}}, nil
}

// Keys returns the public keys matching the signer.
func (s *Signer) Keys() Keys { return s.keys }

// Sign returns the signed note for a tree of size with root.
func (s *Signer) Sign(size int64, root tlog.Hash) ([]byte, error) {
	cp := Checkpoint{Origin: s.keys.Origin, Size: size, Root: root}
	return note.Sign(&note.Note{Text: cp.Text()}, s.ed, s.ml)
}

type mldsaSigner struct {
	name string
	hash uint32
	sk   *mldsa65.PrivateKey
}

func (s *mldsaSigner) Name() string    { return s.name }
func (s *mldsaSigner) KeyHash() uint32 { return s.hash }
func (s *mldsaSigner) Sign(msg []byte) ([]byte, error) {
	sig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(s.sk, msg, nil, true, sig); err != nil {
		return nil, fmt.Errorf("ML-DSA-65 sign: %w", err)
	}
	return sig, nil
}

type mldsaVerifier struct {
	name string
	hash uint32
	pk   *mldsa65.PublicKey
}

func (v *mldsaVerifier) Name() string    { return v.name }
func (v *mldsaVerifier) KeyHash() uint32 { return v.hash }
func (v *mldsaVerifier) Verify(msg, sig []byte) bool {
	return len(sig) == mldsa65.SignatureSize && mldsa65.Verify(v.pk, msg, nil, sig)
}

// SignatureError says which checkpoint signature failed or is missing.
type SignatureError struct {
	Origin string
	Alg    string // "Ed25519" or "ML-DSA-65"
	Reason string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("checkpoint %s signature by %s: %s", e.Alg, e.Origin, e.Reason)
}

// Open verifies both signatures of a signed checkpoint note against keys and
// returns its content. The origin line must equal keys.Origin.
func Open(signed []byte, keys Keys) (Checkpoint, error) {
	edV, err := keys.Ed25519VerifierKey()
	if err != nil {
		return Checkpoint{}, err
	}
	edVerifier, err := note.NewVerifier(edV)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ed25519 verifier: %w", err)
	}
	mlVerifier := &mldsaVerifier{name: keys.Origin, hash: keys.MLDSAKeyHash(), pk: keys.MLDSA65}
	// note.Open checks only the first line by each key; a second line by
	// one of the gateway's keys, valid or not, makes the note ambiguous.
	if err := oneLineEach(signed, keys.Origin, edVerifier.KeyHash(), mlVerifier.hash); err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(signed, note.VerifierList(edVerifier, mlVerifier))
	if err != nil {
		var inv *note.InvalidSignatureError
		var unv *note.UnverifiedNoteError
		switch {
		case errors.As(err, &inv):
			alg := "Ed25519"
			if inv.Hash == mlVerifier.hash {
				alg = "ML-DSA-65"
			}
			return Checkpoint{}, &SignatureError{Origin: keys.Origin, Alg: alg, Reason: "does not verify"}
		case errors.As(err, &unv):
			return Checkpoint{}, &SignatureError{Origin: keys.Origin, Alg: "Ed25519 and ML-DSA-65", Reason: "missing (no signature by the gateway's keys)"}
		}
		return Checkpoint{}, fmt.Errorf("checkpoint note: %w", err)
	}
	var haveEd, haveML bool
	for _, s := range n.Sigs {
		haveEd = haveEd || s.Hash == edVerifier.KeyHash()
		haveML = haveML || s.Hash == mlVerifier.hash
	}
	if !haveEd {
		return Checkpoint{}, &SignatureError{Origin: keys.Origin, Alg: "Ed25519", Reason: "missing"}
	}
	if !haveML {
		return Checkpoint{}, &SignatureError{Origin: keys.Origin, Alg: "ML-DSA-65", Reason: "missing"}
	}
	cp, err := ParseText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != keys.Origin {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the gateway's origin %q", cp.Origin, keys.Origin)
	}
	return cp, nil
}

func oneLineEach(signed []byte, origin string, hashes ...uint32) error {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return fmt.Errorf("checkpoint note: malformed note")
	}
	seen := map[uint32]int{}
	for _, line := range strings.Split(string(signed[i+2:]), "\n") {
		rest, ok := strings.CutPrefix(line, "— "+origin+" ")
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) < 4 {
			continue // note.Open reports malformed lines
		}
		seen[binary.BigEndian.Uint32(raw)]++
	}
	for _, h := range hashes {
		if seen[h] > 1 {
			return &SignatureError{Origin: origin, Alg: "gateway key " + fmt.Sprintf("%08x", h), Reason: "appears on more than one signature line"}
		}
	}
	return nil
}

// Body returns the text of a signed note before its signature block without
// verifying anything; for display only.
func Body(signed []byte) string {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return ""
	}
	return string(signed[:i+1])
}
