package cometnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Version is the CometBFT release this package runs and configures.
const Version = "0.38.19"

// Install is the step that installs the pinned cometbft by hand.
const Install = "go install github.com/cometbft/cometbft/cmd/cometbft@v" + Version

// EnvBinary names the environment variable that points at a cometbft
// binary; when set, Binary uses it or fails.
const EnvBinary = "TALLY_COMETBFT"

// Binary returns the path of a cometbft v0.38.19 binary. It looks, in order,
// at $TALLY_COMETBFT (which must be v0.38.19 when set), the cache
// <user cache dir>/tally/cometbft-v0.38.19/cometbft, cometbft in PATH, and
// cometbft in $(go env GOBIN) and $(go env GOPATH)/bin, taking the first
// whose `cometbft version` prints 0.38.19. When there is none it builds one
// into the cache with `go install` (about a minute), telling progress (which
// may be nil) when it starts and ends. Concurrent callers, in one process or
// several, at worst build twice: each builds in its own temporary directory
// and renames the result into the cache.
func Binary(ctx context.Context, progress io.Writer) (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		v, err := binaryVersion(ctx, p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		if v != Version {
			return "", fmt.Errorf("%s=%s is cometbft %s, want %s (unset it to find or build v%s)", EnvBinary, p, v, Version, Version)
		}
		return p, nil
	}
	cache, cacheErr := cacheDir()
	var candidates []string
	if cacheErr == nil {
		candidates = append(candidates, filepath.Join(cache, "cometbft"))
	}
	if p, err := exec.LookPath("cometbft"); err == nil {
		candidates = append(candidates, p)
	}
	goBin, goErr := exec.LookPath("go")
	if goErr == nil {
		out, err := exec.CommandContext(ctx, goBin, "env", "GOBIN", "GOPATH").Output()
		if err == nil {
			lines := strings.Split(string(out), "\n")
			if len(lines) >= 2 {
				if gobin := strings.TrimSpace(lines[0]); gobin != "" {
					candidates = append(candidates, filepath.Join(gobin, "cometbft"))
				}
				for _, gp := range filepath.SplitList(strings.TrimSpace(lines[1])) {
					candidates = append(candidates, filepath.Join(gp, "bin", "cometbft"))
				}
			}
		}
	}
	var rejected []string
	seen := map[string]bool{}
	for _, p := range candidates {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, err := os.Stat(p); err != nil {
			continue
		}
		v, err := binaryVersion(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			rejected = append(rejected, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		if v == Version {
			return p, nil
		}
		rejected = append(rejected, fmt.Sprintf("%s (version %s)", p, v))
	}
	notFound := "no cometbft v" + Version + " found"
	if len(rejected) > 0 {
		notFound += "; rejected " + strings.Join(rejected, ", ")
	}
	if cacheErr != nil {
		return "", fmt.Errorf("%s, and no cache directory to build one in (%w): run %s and put it in PATH, or set %s", notFound, cacheErr, Install, EnvBinary)
	}
	if goErr != nil {
		return "", fmt.Errorf("%s, and go is not installed to build it: install Go, then run %s (or set %s to a cometbft v%s binary)", notFound, Install, EnvBinary, Version)
	}
	return build(ctx, goBin, cache, progress)
}

// cacheDir is where Binary keeps the cometbft it builds.
func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "tally", "cometbft-v"+Version), nil
}

// build runs go install into a temporary directory next to cache and renames
// the binary into cache, so that no caller ever sees a partial file.
func build(ctx context.Context, goBin, cache string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("build cometbft: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), "cometbft-build-")
	if err != nil {
		return "", fmt.Errorf("build cometbft: %w", err)
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(progress, "building cometbft v%s into %s with go install (about a minute)\n", Version, cache)
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "install", "github.com/cometbft/cometbft/cmd/cometbft@v"+Version)
	cmd.Dir = tmp // away from any go.mod or go.work
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build cometbft: %w", ctx.Err())
		}
		return "", fmt.Errorf("build cometbft: GOBIN=%s %s: %w\n%s", tmp, Install, err, out)
	}
	built := filepath.Join(tmp, "cometbft")
	if v, err := binaryVersion(ctx, built); err != nil || v != Version {
		return "", fmt.Errorf("build cometbft: the built binary reports version %q (%v), want %s", v, err, Version)
	}
	dst := filepath.Join(cache, "cometbft")
	if err := os.Rename(built, dst); err != nil {
		return "", fmt.Errorf("build cometbft: %w", err)
	}
	fmt.Fprintf(progress, "built cometbft v%s in %s\n", Version, time.Since(start).Round(time.Second))
	return dst, nil
}

// binaryVersion runs `bin version` and returns what it prints.
func binaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s version: %w: %s", bin, err, strings.TrimSpace(out.String()))
		}
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	return parseVersion(out.String()), nil
}

// parseVersion takes the version out of `cometbft version` output, which is
// the bare semantic version, possibly followed by "+" and a commit.
func parseVersion(out string) string {
	v := strings.TrimSpace(out)
	if i := strings.IndexAny(v, "+\n"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}
