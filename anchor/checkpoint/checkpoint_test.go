package checkpoint_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tallygw/tally/anchor/checkpoint"
)

func signer(t testing.TB, origin string) *checkpoint.Signer {
	_, ed, _ := ed25519.GenerateKey(nil)
	var seed [mldsa65.SeedSize]byte
	seed[0] = 7
	_, ml := mldsa65.NewKeyFromSeed(&seed)
	s, err := checkpoint.NewSigner(origin, ed, ml)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignOpen(t *testing.T) {
	s := signer(t, "tally/gw-1")
	root := tlog.Hash(sha256.Sum256([]byte("root")))
	signed, err := s.Sign(1234, root)
	if err != nil {
		t.Fatal(err)
	}
	text := "tally/gw-1\n1234\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n\n"
	if !strings.HasPrefix(string(signed), text) {
		t.Fatalf("note does not start with the checkpoint text:\n%s", signed)
	}
	lines := strings.Split(strings.TrimSuffix(string(signed[len(text):]), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d signature lines, want 2", len(lines))
	}
	// The ML-DSA-65 key hash is as FORMATS.md §4 says.
	k := s.Keys()
	h := sha256.Sum256(append([]byte("tally/gw-1\n\xffML-DSA-65"), k.MLDSA65.Bytes()...))
	if got := binary.BigEndian.Uint32(h[:4]); got != k.MLDSAKeyHash() {
		t.Fatalf("ML-DSA key hash %08x, want %08x", k.MLDSAKeyHash(), got)
	}
	cp, err := checkpoint.Open(signed, k)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 1234 || cp.Root != root || cp.Origin != "tally/gw-1" {
		t.Fatalf("opened %+v", cp)
	}
	// The Ed25519 line verifies with the stock note verifier key.
	vkey, _ := k.Ed25519VerifierKey()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("stock note verifier: %v %+v", err, n)
	}
}

func TestOpenRejects(t *testing.T) {
	s := signer(t, "tally/gw-1")
	signed, _ := s.Sign(10, tlog.Hash{1})
	k := s.Keys()
	body := checkpoint.Body(signed)
	sigs := strings.Split(strings.TrimSuffix(string(signed[len(body)+1:]), "\n"), "\n")

	var se *checkpoint.SignatureError
	edited := strings.Replace(string(signed), "\n10\n", "\n11\n", 1)
	if _, err := checkpoint.Open([]byte(edited), k); !errors.As(err, &se) {
		t.Fatalf("edited size: %v", err)
	}
	onlyEd := body + "\n" + sigs[0] + "\n"
	if _, err := checkpoint.Open([]byte(onlyEd), k); !errors.As(err, &se) || se.Alg != "ML-DSA-65" {
		t.Fatalf("missing ML-DSA signature: %v", err)
	}
	onlyML := body + "\n" + sigs[1] + "\n"
	if _, err := checkpoint.Open([]byte(onlyML), k); !errors.As(err, &se) || se.Alg != "Ed25519" {
		t.Fatalf("missing Ed25519 signature: %v", err)
	}
	// A flipped bit in the ML-DSA signature names that signature.
	raw, _ := base64.StdEncoding.DecodeString(strings.Fields(sigs[1])[2])
	raw[100] ^= 1
	badML := body + "\n" + sigs[0] + "\n— tally/gw-1 " + base64.StdEncoding.EncodeToString(raw) + "\n"
	if _, err := checkpoint.Open([]byte(badML), k); !errors.As(err, &se) || se.Alg != "ML-DSA-65" {
		t.Fatalf("bad ML-DSA signature: %v", err)
	}
	other := signer(t, "tally/gw-2")
	if _, err := checkpoint.Open(signed, other.Keys()); err == nil {
		t.Fatal("opened with another gateway's keys")
	}
}

func TestParseText(t *testing.T) {
	good := "tally/gw-1\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	if _, err := checkpoint.ParseText(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "tally/gw-1\n5\n", "tally/gw-1\n05\nAAAA\n", "tally/gw-1\n-1\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n",
		"tally/gw-1\n5\nAAAA\n", good + "extension\n", "\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"} {
		if _, err := checkpoint.ParseText(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := signer(b, "tally/gw-1")
	for b.Loop() {
		if _, err := s.Sign(10_000_000, tlog.Hash{1}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s := signer(f, "tally/gw-1")
	signed, _ := s.Sign(10, tlog.Hash{1})
	f.Add(signed)
	f.Add([]byte("tally/gw-1\n10\nAAAA\n\n— tally/gw-1 AAAAAA==\n"))
	k := s.Keys()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkpoint.Open(data, k)
		checkpoint.ParseText(string(data))
	})
}
