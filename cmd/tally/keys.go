package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/edge/keys"
)

func cmdKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("keygen", stderr)
	evmKey := fs.Bool("evm", false, "create the secp256k1 key the evm anchor backend signs with (anchor.evm.key) instead")
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if *evmKey {
		path := cfg.Path("evm-secp256k1.key")
		if cfg.Anchor != nil && cfg.Anchor.EVM != nil {
			path = cfg.Path(cfg.Anchor.EVM.Key)
		}
		addr, err := evm.GenerateKey(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (secp256k1), mode 0600; address %s\n", path, addr)
		fmt.Fprintf(stdout, "fund this address on the chain (or set gas_price: 0 on a zero-gas chain) and register it with the consortium; auditors pin it with tally verify --sender %s\n", addr)
		return nil
	}
	edPath, mlPath := cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65)
	if _, err := keys.Generate(edPath, mlPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (Ed25519) and %s (ML-DSA-65), mode 0600\n", edPath, mlPath)
	fmt.Fprintf(stdout, "register the public keys with your consortium: tally id --config %s", c.config)
	if c.data != "" {
		fmt.Fprintf(stdout, " --data %s", c.data)
	}
	fmt.Fprintln(stdout)
	return nil
}

// identity is what `tally id --json` prints; `tally verify --keys` reads it.
type identity struct {
	Origin string `json:"origin"`
	KID    string `json:"kid"`
	bundle.PublicKeys
	Ed25519KeyHash string `json:"ed25519_key_hash"`
	MLDSAKeyHash   string `json:"mldsa65_key_hash"`
}

func cmdID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("id", stderr)
	asJSON := fs.Bool("json", false, "print JSON (the file auditors pass to tally verify --keys)")
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	_, pub, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	pk, err := bundle.NewPublicKeys(pub)
	if err != nil {
		return err
	}
	id := identity{
		Origin: pub.Origin, KID: fmt.Sprintf("%x", envelope.KeyID(pub.Ed25519)), PublicKeys: pk,
		Ed25519KeyHash: fmt.Sprintf("%08x", pub.Ed25519KeyHash()), MLDSAKeyHash: fmt.Sprintf("%08x", pub.MLDSAKeyHash()),
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(id)
	}
	fmt.Fprintf(stdout, "gateway:          %s\n", cfg.Gateway.ID)
	fmt.Fprintf(stdout, "log origin:       %s\n", id.Origin)
	fmt.Fprintf(stdout, "envelope kid:     %s (SHA-256 of the Ed25519 public key, first 8 bytes)\n", id.KID)
	fmt.Fprintf(stdout, "Ed25519 public:   %s\n", base64.StdEncoding.EncodeToString(pk.Ed25519))
	fmt.Fprintf(stdout, "Ed25519 note key: %s (key hash %s)\n", pk.NoteKey, id.Ed25519KeyHash)
	fmt.Fprintf(stdout, "ML-DSA-65 key hash: %s; public key (%d bytes, base64):\n%s\n", id.MLDSAKeyHash, len(pk.MLDSA65), base64.StdEncoding.EncodeToString(pk.MLDSA65))
	return nil
}
