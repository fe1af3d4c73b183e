package ledger_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/tallygw/tally/anchor/ledger"
)

var a = ledger.Anchored{Origin: "tally/gw-1", Size: 42, Root: sha256.Sum256([]byte("r")), NoteSHA256: sha256.Sum256([]byte("n"))}

func TestRenderDefault(t *testing.T) {
	got, err := ledger.Render(ledger.DefaultTxFormat, a)
	if err != nil {
		t.Fatal(err)
	}
	want := "tally.dGFsbHkvZ3ctMQ.42=" + "454349e422f05297191ead13e21d3db520e5abef52055e4964b82fb213f593a1" + "." + "1b16b1df538ba12dc3f97edbb85caa7050d46c148134290feba80f8236c83db9"
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// CometBFT's kvstore: exactly one '=', no ':'.
	if strings.Count(string(got), "=") != 1 || strings.Contains(string(got), ":") {
		t.Fatalf("%s is not a kvstore tx", got)
	}
}

func TestValidateFormat(t *testing.T) {
	for f, ok := range map[string]bool{
		ledger.DefaultTxFormat:   true,
		"{size}:{root_b64}":      true,
		"{origin}/{size}":        false, // no root
		"{root_hex}":             false, // no size
		"{size}{root_hex}{nope}": false,
		"{size}{root_hex":        false,
		"{size}}{root_hex}":      false,
	} {
		if err := ledger.ValidateFormat(f); (err == nil) != ok {
			t.Errorf("%q: %v", f, err)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add(ledger.DefaultTxFormat)
	f.Add("{size}{root_hex}{")
	f.Fuzz(func(t *testing.T, format string) {
		out, err := ledger.Render(format, a)
		if err != nil {
			return
		}
		if !strings.Contains(string(out), "42") {
			t.Fatalf("%q rendered %q without the size", format, out)
		}
	})
}
