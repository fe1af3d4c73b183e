// Package envelope encodes, signs and verifies reading envelopes: a tagged
// COSE_Sign1 (RFC 9052, alg EdDSA with Ed25519, kid in the protected header)
// over a deterministic CBOR (RFC 8949 §4.2.1) payload map. docs/FORMATS.md
// specifies every byte.
package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Version is the payload format version carried in every envelope ("v").
const Version = 1

// SaltSize is the length of the random salt in every payload.
const SaltSize = 16

// Payload is the signed content of one reading. Field names are the CBOR map
// keys; times are integer microseconds since the Unix epoch, UTC.
type Payload struct {
	Version   int            `cbor:"v"`
	Gateway   string         `cbor:"gw"`
	Seq       uint64         `cbor:"seq"`
	Sensor    string         `cbor:"sensor"`
	Kind      string         `cbor:"kind"`
	RecvUS    int64          `cbor:"recv_us"`
	SensorUS  *int64         `cbor:"sensor_us,omitempty"`
	Clock     string         `cbor:"clock,omitempty"`
	Container string         `cbor:"container,omitempty"`
	MsgID     string         `cbor:"msg_id,omitempty"`
	Data      map[string]any `cbor:"data,omitempty"`
	Raw       []byte         `cbor:"raw,omitempty"`
	Salt      []byte         `cbor:"salt"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// Core deterministic encoding: shortest forms, map keys sorted bytewise.
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		DefaultMapType:   nil,
		IntDec:           cbor.IntDecConvertSigned,
		MaxNestedLevels:  16,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// KeyID is the kid of a gateway's Ed25519 key: the first 8 bytes of the
// SHA-256 of the 32-byte public key.
func KeyID(pub ed25519.PublicKey) []byte {
	sum := sha256.Sum256(pub)
	return sum[:8]
}

// EncodePayload returns the deterministic CBOR encoding of p.
func EncodePayload(p *Payload) ([]byte, error) {
	return encMode.Marshal(p)
}

// Signer signs payloads into envelopes with one gateway key.
type Signer struct {
	kid    []byte
	signer cose.Signer
}

// NewSigner returns a Signer for the Ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	s, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return nil, fmt.Errorf("envelope signer: %w", err)
	}
	return &Signer{kid: KeyID(priv.Public().(ed25519.PublicKey)), signer: s}, nil
}

// Sign encodes p and returns the tagged COSE_Sign1 envelope bytes.
func (s *Signer) Sign(p *Payload) ([]byte, error) {
	body, err := EncodePayload(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload seq %d: %w", p.Seq, err)
	}
	headers := cose.Headers{
		Protected: cose.ProtectedHeader{
			cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
			cose.HeaderLabelKeyID:     s.kid,
		},
	}
	// Ed25519 signing is deterministic; no randomness is read.
	env, err := cose.Sign1(nil, s.signer, headers, body, nil)
	if err != nil {
		return nil, fmt.Errorf("sign seq %d: %w", p.Seq, err)
	}
	return env, nil
}

// ErrSignature is returned (wrapped) when an envelope's signature does not verify.
var ErrSignature = errors.New("envelope signature does not verify")

// header is the fixed start of every envelope: tag 18, a 4-element array,
// the protected header {1: -8, 4: kid} as a 13-byte string, and the empty
// unprotected map. The kid's 8 bytes go between the two parts.
var (
	headerStart = []byte{0xd2, 0x84, 0x4d, 0xa2, 0x01, 0x27, 0x04, 0x48}
	headerEnd   = []byte{0xa0}
)

// Open checks the envelope's COSE_Sign1 structure, header and Ed25519
// signature against pub and returns the payload bytes, not yet decoded.
func Open(env []byte, pub ed25519.PublicKey) ([]byte, error) {
	kid := KeyID(pub)
	want := append(append(append([]byte{}, headerStart...), kid...), headerEnd...)
	if !bytes.HasPrefix(env, want) {
		if len(env) >= len(want) && bytes.HasPrefix(env, headerStart) && !bytes.Equal(env[len(headerStart):len(headerStart)+8], kid) {
			return nil, fmt.Errorf("envelope kid %x is not the gateway key %x", env[len(headerStart):len(headerStart)+8], kid)
		}
		return nil, errors.New("envelope does not start with tag 18, protected header {1: -8, 4: kid} and an empty unprotected map")
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(env); err != nil {
		return nil, fmt.Errorf("envelope is not a tagged COSE_Sign1: %w", err)
	}
	v, err := cose.NewVerifier(cose.AlgorithmEdDSA, pub)
	if err != nil {
		return nil, fmt.Errorf("envelope verifier: %w", err)
	}
	if err := msg.Verify(nil, v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return msg.Payload, nil
}

// Verify is Open followed by DecodePayload.
func Verify(env []byte, pub ed25519.PublicKey) (*Payload, error) {
	body, err := Open(env, pub)
	if err != nil {
		return nil, err
	}
	return DecodePayload(body)
}

// required and optional are the payload's top-level keys.
var (
	required = []string{"v", "gw", "seq", "sensor", "kind", "recv_us", "salt"}
	optional = []string{"sensor_us", "clock", "container", "msg_id", "data", "raw"}
)

// DecodePayload decodes a payload and checks it: every required key and
// no unknown key, version 1, a 16-byte salt, clock present exactly when
// sensor_us is, and deterministic encoding (re-encoding gives the same
// bytes, so optional members are omitted rather than empty).
func DecodePayload(body []byte) (*Payload, error) {
	var keys map[string]cbor.RawMessage
	if err := decMode.Unmarshal(body, &keys); err != nil {
		return nil, fmt.Errorf("payload is not a CBOR map with text keys: %w", err)
	}
	for _, k := range required {
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("payload has no %q", k)
		}
	}
	for k := range keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return nil, fmt.Errorf("payload has an unknown key %q", k)
		}
	}
	var p Payload
	if err := decMode.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("payload member has the wrong type: %w", err)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("payload version %d is not supported (want %d)", p.Version, Version)
	}
	if len(p.Salt) != SaltSize {
		return nil, fmt.Errorf("payload salt is %d bytes, want %d", len(p.Salt), SaltSize)
	}
	if (p.SensorUS == nil) != (p.Clock == "") {
		return nil, errors.New("payload must carry clock exactly when it carries sensor_us")
	}
	again, err := EncodePayload(&p)
	if err != nil || !bytes.Equal(again, body) {
		return nil, errors.New("payload is not in deterministic CBOR form (RFC 8949 §4.2.1, empty optional members omitted)")
	}
	return &p, nil
}

// Decode returns an envelope's payload WITHOUT checking its signature, for
// the gateway's own readers of its own store (the condition rules), where
// the audit checks signatures. Never use it on envelopes from elsewhere.
func Decode(env []byte) (*Payload, error) {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(env); err != nil {
		return nil, fmt.Errorf("envelope is not a tagged COSE_Sign1: %w", err)
	}
	return DecodePayload(msg.Payload)
}
