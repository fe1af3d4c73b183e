// Package ledger holds what every ledger backend shares: the checkpoint an
// anchor carries, the transaction payload template, submissions, receipts,
// the Backend interface the anchor scheduler drives, and verification steps.
// Backends live in anchor/cometbft and anchor/evm.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tallygw/tally/anchor/checkpoint"
)

// Anchored is the checkpoint an anchor transaction carries.
type Anchored struct {
	Origin     string
	Size       int64
	Root       tlog.Hash
	NoteSHA256 [32]byte // SHA-256 of the whole signed checkpoint note
}

// FromNote returns the Anchored form of a signed checkpoint note. It does not
// check the note's signatures; callers that trust nothing open it first.
func FromNote(note []byte) (Anchored, error) {
	text, _, found := strings.Cut(string(note), "\n\n")
	if !found {
		return Anchored{}, errors.New("checkpoint note has no signature block")
	}
	cp, err := checkpoint.ParseText(text + "\n")
	if err != nil {
		return Anchored{}, err
	}
	return Anchored{Origin: cp.Origin, Size: cp.Size, Root: cp.Root, NoteSHA256: sha256.Sum256(note)}, nil
}

// DefaultTxFormat works with CometBFT's stock kvstore app (key=value with
// exactly one '=' and no ':') and as EVM calldata: the key names the gateway
// and tree size, the value is the root and the note's SHA-256.
const DefaultTxFormat = "tally.{origin_b64url}.{size}={root_hex}.{note_sha256_hex}"

var placeholders = map[string]func(a Anchored) string{
	"origin":          func(a Anchored) string { return a.Origin },
	"origin_b64url":   func(a Anchored) string { return base64.RawURLEncoding.EncodeToString([]byte(a.Origin)) },
	"size":            func(a Anchored) string { return strconv.FormatInt(a.Size, 10) },
	"root_hex":        func(a Anchored) string { return hex.EncodeToString(a.Root[:]) },
	"root_b64":        func(a Anchored) string { return base64.StdEncoding.EncodeToString(a.Root[:]) },
	"note_sha256_hex": func(a Anchored) string { return hex.EncodeToString(a.NoteSHA256[:]) },
}

// PlaceholderNames lists the placeholders a tx format may use.
func PlaceholderNames() []string {
	return []string{"origin", "origin_b64url", "size", "root_hex", "root_b64", "note_sha256_hex"}
}

// ValidateFormat checks a tx format: known placeholders only, and the size
// and a root among them, so the payload binds the checkpoint.
func ValidateFormat(format string) error {
	seen := map[string]bool{}
	rest := format
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		if strings.Contains(rest[:i], "}") {
			return fmt.Errorf("tx format %q has a '}' without '{'", format)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("tx format %q has an unclosed '{'", format)
		}
		name := rest[i+1 : i+j]
		if placeholders[name] == nil {
			return fmt.Errorf("tx format %q: unknown placeholder {%s} (known: {%s})", format, name, strings.Join(PlaceholderNames(), "}, {"))
		}
		seen[name] = true
		rest = rest[i+j+1:]
	}
	if strings.Contains(rest, "}") {
		return fmt.Errorf("tx format %q has a '}' without '{'", format)
	}
	if !seen["size"] || !(seen["root_hex"] || seen["root_b64"]) {
		return fmt.Errorf("tx format %q must contain {size} and {root_hex} or {root_b64}, so the transaction binds the checkpoint", format)
	}
	return nil
}

// Render fills the tx format's placeholders for a.
func Render(format string, a Anchored) ([]byte, error) {
	if err := ValidateFormat(format); err != nil {
		return nil, err
	}
	var b strings.Builder
	rest := format
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		b.WriteString(rest[:i])
		b.WriteString(placeholders[rest[i+1:i+j]](a))
		rest = rest[i+j+1:]
	}
	return []byte(b.String()), nil
}

// Submission is a prepared ledger transaction. The scheduler stores it
// before broadcasting it, so a restart can ask the ledger what became of it.
type Submission struct {
	Ledger string `json:"ledger"`
	TxID   string `json:"tx_id"` // the ledger's transaction id, lowercase hex
	Raw    []byte `json:"raw"`   // the bytes broadcast (CometBFT: the tx; EVM: the signed RLP transaction)
	Nonce  uint64 `json:"nonce,omitempty"`
	// TxFormat is the template the payload was rendered from; the receipt
	// records it, so a config change between prepare and commit is harmless.
	TxFormat string `json:"tx_format"`
}

// State is what the ledger knows of a submission.
type State int

const (
	// Unknown: the ledger has no record of the transaction (never arrived,
	// or dropped). It may be prepared again for a newer checkpoint.
	Unknown State = iota
	// Pending: the ledger has it but it is not final yet.
	Pending
	// Final: committed (CometBFT) or confirmed deeply enough (EVM); the
	// receipt is complete.
	Final
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Final:
		return "final"
	}
	return "unknown"
}

// Backend is one ledger. Every method may be called again after a crash or
// an error; they must be idempotent.
type Backend interface {
	// Kind names the ledger kind: "cometbft" or "evm".
	Kind() string
	// Prepare builds (and signs, where the ledger needs it) the transaction
	// anchoring a. prev, when not nil, is an earlier submission the ledger
	// reported Unknown; a backend may reuse its nonce.
	Prepare(ctx context.Context, a Anchored, prev *Submission) (*Submission, error)
	// Broadcast hands s to the ledger. A ledger that already has s is not
	// an error.
	Broadcast(ctx context.Context, s *Submission) error
	// Check asks the ledger about s. With Final it returns the receipt.
	Check(ctx context.Context, s *Submission) (State, *Receipt, error)
	// Close releases connections.
	Close() error
}

// Receipt is the proof that a checkpoint's anchor transaction is on a
// ledger: enough for an auditor to check offline, with the ledger's own
// evidence where it gives one.
type Receipt struct {
	Ledger    string    `json:"ledger"`     // "cometbft" or "evm"
	Network   string    `json:"network"`    // CometBFT chain id, or the EVM chain id in decimal
	TxID      string    `json:"tx_id"`      // lowercase hex (EVM: 0x-prefixed)
	Height    int64     `json:"height"`     // block height / number
	BlockHash string    `json:"block_hash"` // lowercase hex (EVM: 0x-prefixed)
	BlockTime time.Time `json:"block_time"`
	TxFormat  string    `json:"tx_format"` // the template Payload was rendered from
	Payload   []byte    `json:"payload"`   // the anchor payload: the CometBFT tx, or the EVM calldata
	// Evidence is the ledger's own evidence, ledger-specific JSON
	// (docs/ANCHORING.md).
	Evidence json.RawMessage `json:"evidence"`
}

// Trust is what an auditor pins for a ledger. Empty members are not pinned:
// verification then takes the value from the evidence and says so.
type Trust struct {
	// ChainID is the CometBFT chain id, or the EVM chain id in decimal.
	ChainID string
	// ValidatorsHash is the CometBFT validator set hash (from the chain's
	// genesis or the consortium's config), 32 bytes.
	ValidatorsHash []byte
	// Sender is the EVM address the gateway anchors from (0x-prefixed hex).
	Sender string
}

// Step is one verification step and its outcome.
type Step struct {
	Name   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// StepError is returned when a step fails.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Steps collects verification steps; Fail records a failed step and returns
// the error naming it.
type Steps struct{ List []Step }

// OK records a passed step.
func (s *Steps) OK(name, format string, args ...any) {
	s.List = append(s.List, Step{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

// Fail records a failed step and returns its *StepError.
func (s *Steps) Fail(name string, err error) error {
	s.List = append(s.List, Step{Name: name, OK: false, Detail: err.Error()})
	return &StepError{Step: name, Err: err}
}

// CheckPayload is the ledger-neutral step "checkpoint in tx": the receipt's
// payload must be exactly its tx format rendered for a.
func CheckPayload(s *Steps, r *Receipt, a Anchored) error {
	want, err := Render(r.TxFormat, a)
	if err != nil {
		return s.Fail("checkpoint in tx", err)
	}
	if string(want) != string(r.Payload) {
		return s.Fail("checkpoint in tx", fmt.Errorf("the ledger transaction carries %q, not this checkpoint (%q)", clip(r.Payload), clip(want)))
	}
	s.OK("checkpoint in tx", "the transaction carries origin %s, size %d and root %x (format %s)", a.Origin, a.Size, a.Root[:], r.TxFormat)
	return nil
}

func clip(b []byte) string {
	if len(b) > 160 {
		return string(b[:160]) + "…"
	}
	return string(b)
}
