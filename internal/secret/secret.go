// Package secret reads password and private-key files: regular files that
// only their owner may read, so no secret sits in a config file or in a file
// others can read.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// maxSize bounds a secret file; passwords and PEM keys are far smaller.
const maxSize = 64 << 10

// ReadFile returns the contents of path, refusing a file that is not
// regular, that group or others can read (with the chmod to run), or that
// is larger than 64 KiB.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w (it must be readable by the user tally runs as: chown that user %s)", err, path)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: group or others can read it; run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSize)
	}
	return b, nil
}

// Password reads a password file: the password alone on one line (a final
// newline, LF or CRLF, is dropped), UTF-8, not empty.
func Password(path string) (string, error) {
	b, err := ReadFile(path)
	if err != nil {
		return "", err
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case p == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(p, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line (it holds only the password)", path)
	case !utf8.ValidString(p):
		return "", fmt.Errorf("%s is not UTF-8 text", path)
	}
	return p, nil
}
