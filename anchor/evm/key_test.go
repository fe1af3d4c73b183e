package evm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anchor.key")
	addr, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 65 || b[64] != '\n' {
		t.Errorf("key file is %q, want 64 hex digits and a newline", b)
	}
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := Address(k); got != addr {
		t.Errorf("loaded key's address %s, generated %s", got, addr)
	}
	if _, err := ParseAddress(addr); err != nil || checksum([20]byte(addressOf(k))) != addr {
		t.Errorf("address %s is not EIP-55: %v", addr, err)
	}

	if _, err := GenerateKey(path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("GenerateKey over an existing key: %v", err)
	}
	if again, err := os.ReadFile(path); err != nil || string(again) != string(b) {
		t.Errorf("the existing key changed: %v", err)
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("LoadKey of a group-readable key: %v, want the chmod to run", err)
	}
}

func TestLoadKeyFormats(t *testing.T) {
	dir := t.TempDir()
	const hexKey = "4646464646464646464646464646464646464646464646464646464646464646"
	for _, tc := range []struct {
		name, content, want string // want: "" = loads
	}{
		{"plain", hexKey, ""},
		{"newline", hexKey + "\n", ""},
		{"0x and CRLF", "0x" + hexKey + "\r\n", ""},
		{"short", hexKey[:62], "does not hold a secp256k1 private key"},
		{"not hex", strings.Repeat("zz", 32), "does not hold a secp256k1 private key"},
		{"zero", strings.Repeat("00", 32), "zero"},
		{"at least N", strings.Repeat("ff", 32), ">=N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadKey(path)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := Address(k); got != "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F" {
					t.Errorf("address %s", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKey = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.content[:8]) {
				t.Errorf("the error echoes the key file: %v", err)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadKey of a missing file succeeded")
	}
}
