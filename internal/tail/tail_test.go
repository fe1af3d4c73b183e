package tail_test

import (
	"strings"
	"testing"

	"github.com/tallygw/tally/internal/tail"
)

func TestBuffer(t *testing.T) {
	var l tail.Buffer
	if got := l.Lines(3); got != "" {
		t.Errorf("empty tail %q", got)
	}
	l.Write([]byte("a\nb\nc\nd\n"))
	for n, want := range map[int]string{0: "", 1: "d", 2: "c\nd", 4: "a\nb\nc\nd", 9: "a\nb\nc\nd"} {
		if got := l.Lines(n); got != want {
			t.Errorf("Lines(%d) = %q, want %q", n, got, want)
		}
	}
	l.Write([]byte(strings.Repeat("x", tail.Keep)))
	if got := l.Lines(1); len(got) != tail.Keep {
		t.Errorf("kept %d bytes, want %d", len(got), tail.Keep)
	}
	if got := l.String(); len(got) != tail.Keep {
		t.Errorf("String is %d bytes, want %d", len(got), tail.Keep)
	}
}
