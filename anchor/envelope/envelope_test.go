package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/tallygw/tally/anchor/envelope"
)

// The worked example of docs/FORMATS.md §6.
const (
	examplePayload  = "aa6176016267776467772d3163736571076464617461a26570726f626566737570706c796763656c73697573f9cca0646b696e646b74656d70657261747572656473616c74500000000000000000000000000000000065636c6f636b666465766963656673656e736f72687265656665722d3167726563765f75731b00060a24182022406973656e736f725f75731b00060a24181e4000"
	exampleEnvelope = "d2844da201270448139e3940e64b5491a05897aa6176016267776467772d3163736571076464617461a26570726f626566737570706c796763656c73697573f9cca0646b696e646b74656d70657261747572656473616c74500000000000000000000000000000000065636c6f636b666465766963656673656e736f72687265656665722d3167726563765f75731b00060a24182022406973656e736f725f75731b00060a24181e4000584014a09a247702097cf8ffd953da4e5fb325563c4bdaeff57a26cda7c8647bd54f9b68bb541f47cc139da0cbdf8ab14bc38f1a1d4e31de0c6c1166b36058dc4a00"
	exampleLeaf     = "bfb0d76469aa4318827435da7ccaff2b712a018c075345e2c1289bffa94211be"
)

func examplePayloadStruct() *envelope.Payload {
	sus := int64(1700000000000000)
	return &envelope.Payload{Version: 1, Gateway: "gw-1", Seq: 7, Sensor: "reefer-1", Kind: "temperature",
		RecvUS: 1700000000123456, SensorUS: &sus, Clock: "device",
		Data: map[string]any{"celsius": -18.5, "probe": "supply"}, Salt: make([]byte, 16)}
}

func TestWorkedExample(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	s, err := envelope.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	body, err := envelope.EncodePayload(examplePayloadStruct())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(body); got != examplePayload {
		t.Fatalf("payload\n got %s\nwant %s", got, examplePayload)
	}
	env, err := s.Sign(examplePayloadStruct())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(env); got != exampleEnvelope {
		t.Fatalf("envelope\n got %s\nwant %s", got, exampleEnvelope)
	}
	leaf := sha256.Sum256(append([]byte{0}, env...))
	if got := hex.EncodeToString(leaf[:]); got != exampleLeaf {
		t.Fatalf("leaf hash %s, want %s", got, exampleLeaf)
	}
	p, err := envelope.Verify(env, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if p.Seq != 7 || p.Data["celsius"] != -18.5 || *p.SensorUS != 1700000000000000 {
		t.Fatalf("decoded %+v", p)
	}
}

func TestVerifyRejects(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	env, _ := hex.DecodeString(exampleEnvelope)
	_, other, _ := ed25519.GenerateKey(nil)

	flipped := bytes.Clone(env)
	flipped[60] ^= 1 // inside the payload
	if _, err := envelope.Verify(flipped, pub); !errors.Is(err, envelope.ErrSignature) {
		t.Fatalf("flipped payload byte: %v", err)
	}
	sig := bytes.Clone(env)
	sig[len(sig)-1] ^= 1
	if _, err := envelope.Verify(sig, pub); !errors.Is(err, envelope.ErrSignature) {
		t.Fatalf("flipped signature byte: %v", err)
	}
	if _, err := envelope.Verify(env, other.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("verified with another key")
	}
	if _, err := envelope.Verify(env[1:], pub); err == nil {
		t.Fatal("untagged/truncated envelope verified")
	}
	if _, err := envelope.Verify(nil, pub); err == nil {
		t.Fatal("empty envelope verified")
	}
}

func TestDecodePayloadRejectsNonDeterministic(t *testing.T) {
	body, _ := hex.DecodeString(examplePayload)
	if _, err := envelope.DecodePayload(body); err != nil {
		t.Fatal(err)
	}
	// -18.5 as a double instead of the shortest (half) float.
	long := bytes.Replace(body, []byte{0xf9, 0xcc, 0xa0}, []byte{0xfb, 0xc0, 0x32, 0x80, 0, 0, 0, 0, 0}, 1)
	if _, err := envelope.DecodePayload(long); err == nil {
		t.Fatal("non-shortest float accepted")
	}
}

func FuzzVerify(f *testing.F) {
	env, _ := hex.DecodeString(exampleEnvelope)
	body, _ := hex.DecodeString(examplePayload)
	f.Add(env)
	f.Add(body)
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := envelope.Verify(data, pub); err == nil && p == nil {
			t.Fatal("nil payload without error")
		}
		envelope.DecodePayload(data)
	})
}
