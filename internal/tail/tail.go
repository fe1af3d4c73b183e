// Package tail keeps the end of a child process's output in memory: the
// process runners (mosquitto, CometBFT, geth) write their children's output
// here instead of the test's, and quote it when something fails.
package tail

import (
	"bytes"
	"strings"
	"sync"
)

// Keep is how many bytes a Buffer keeps.
const Keep = 256 << 10

// Buffer keeps the last Keep bytes written to it; safe for concurrent use.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p, dropping the oldest bytes beyond Keep.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if over := l.b.Len() - Keep; over > 0 {
		l.b.Next(over)
	}
	return len(p), nil
}

// String returns what is kept.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the last n lines.
func (l *Buffer) Lines(n int) string {
	s := l.String()
	if n <= 0 || s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
