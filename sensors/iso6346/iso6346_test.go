package iso6346_test

import (
	"strings"
	"testing"

	"github.com/tallygw/tally/sensors/iso6346"
)

// The vectors of ../shared/testdata/vectors.md, verbatim.
func TestPublishedVectors(t *testing.T) {
	for _, id := range []string{"CSQU3054383", "TCNU7200794", "TOLU4734787", "ZEPU0037255", "GYOU4047990"} {
		if err := iso6346.Validate(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if err := iso6346.Validate("CSQU3054384"); err == nil || !strings.Contains(err.Error(), "check digit") {
		t.Errorf("CSQU3054384 (wrong check digit): %v", err)
	}
}

func TestMalformed(t *testing.T) {
	for id, want := range map[string]string{
		"":             "11 characters",
		"CSQU305438":   "11 characters",
		"CSQU30543833": "11 characters",
		"CSQX3054383":  "must be U, J or Z",
		"csqu3054383":  "category letter",
		"C1QU3054383":  "capital letter",
		"CSQU30A4383":  "digit",
	} {
		if err := iso6346.Validate(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %s", id, err, want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"CSQU3054383", "CSQU3054384", "GYOU4047990", "", "ZZZZ9999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if iso6346.Validate(id) == nil {
			d, err := iso6346.CheckDigit(id[:10])
			if err != nil || d != id[10] {
				t.Fatalf("%q valid but check digit %q, %v", id, d, err)
			}
		}
	})
}
