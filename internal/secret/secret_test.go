package secret_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallygw/tally/internal/secret"
)

func TestPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	if pw, err := secret.Password(write("ok", "s3cret\r\n", 0o600)); err != nil || pw != "s3cret" {
		t.Fatalf("%q %v", pw, err)
	}
	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"readable by others": {"pw\n", 0o644, "run: chmod 600"},
		"empty":              {"\n", 0o600, "is empty"},
		"two lines":          {"a\nb\n", 0o600, "more than one line"},
		"not utf8":           {"\xff\xfe", 0o600, "not UTF-8"},
	} {
		if _, err := secret.Password(write(name, tc.content, tc.mode)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, err := secret.ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := secret.ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read")
	}
}
