// Package keys creates and loads a gateway's signing keys: an Ed25519 key
// (reading envelopes and checkpoints) and an ML-DSA-65 key (checkpoints).
// Key files are PEM, mode 0600; Load refuses files that group or others can
// read.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

const (
	pemEd25519 = "PRIVATE KEY" // PKCS #8, as openssl writes it
	pemMLDSA   = "ML-DSA-65 PRIVATE KEY SEED"
)

// Set is a gateway's private keys.
type Set struct {
	Ed25519 ed25519.PrivateKey
	MLDSA65 *mldsa65.PrivateKey
}

// PermissionError says a key file is readable by group or others.
type PermissionError struct {
	Path string
	Mode fs.FileMode
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("key file %s has mode %04o: group or others can read it; run: chmod 600 %s", e.Path, e.Mode.Perm(), e.Path)
}

// Generate writes new keys to edPath and mlPath with mode 0600. It refuses to
// overwrite either file.
func Generate(edPath, mlPath string) (*Set, error) {
	for _, p := range []string{edPath, mlPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("key file %s already exists; refusing to overwrite it (move it away first if you really mean to replace the gateway's identity)", p)
		}
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	var seed [mldsa65.SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("generate ML-DSA-65 seed: %w", err)
	}
	_, mlPriv := mldsa65.NewKeyFromSeed(&seed)
	der, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		return nil, fmt.Errorf("encode Ed25519 key: %w", err)
	}
	if err := writeNew(edPath, &pem.Block{Type: pemEd25519, Bytes: der}); err != nil {
		return nil, err
	}
	if err := writeNew(mlPath, &pem.Block{Type: pemMLDSA, Bytes: seed[:]}); err != nil {
		return nil, err
	}
	return &Set{Ed25519: edPriv, MLDSA65: mlPriv}, nil
}

func writeNew(path string, b *pem.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if err := pem.Encode(f, b); err != nil {
		f.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file %s: %w", path, err)
	}
	return f.Close()
}

// Load reads both keys, refusing files that group or others can read.
func Load(edPath, mlPath string) (*Set, error) {
	edBlock, err := readPEM(edPath, pemEd25519)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(edBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: not a PKCS #8 private key: %w", edPath, err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s holds a %T key, not Ed25519", edPath, k)
	}
	mlBlock, err := readPEM(mlPath, pemMLDSA)
	if err != nil {
		return nil, err
	}
	if len(mlBlock.Bytes) != mldsa65.SeedSize {
		return nil, fmt.Errorf("key file %s: ML-DSA-65 seed is %d bytes, want %d", mlPath, len(mlBlock.Bytes), mldsa65.SeedSize)
	}
	var seed [mldsa65.SeedSize]byte
	copy(seed[:], mlBlock.Bytes)
	_, ml := mldsa65.NewKeyFromSeed(&seed)
	return &Set{Ed25519: ed, MLDSA65: ml}, nil
}

func readPEM(path, typ string) (*pem.Block, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key file %s does not exist; create the gateway's keys with: tally keygen", path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &PermissionError{Path: path, Mode: st.Mode()}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("key file %s: no PEM block of type %q", path, typ)
	}
	return b, nil
}
