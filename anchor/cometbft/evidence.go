package cometbft

// Offline verification of CometBFT evidence: which fields go into the
// header and validator set hashes and the vote sign bytes, in which order,
// and the 2/3 tally. The encodings are in encode.go. No CometBFT package is
// linked: cometbft/types brings gRPC and the ABCI types (about 10 MB of
// resident memory on an idle gateway), and even its protobuf types and
// crypto/merkle cost 3 MB. The tests check every result against
// cometbft/types.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/jsonexact"
)

// hexBytes is a byte string CometBFT's JSON writes in hex.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a hex string: %w", err)
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%q is not hex", s)
	}
	*h = v
	return nil
}

// num is an integer CometBFT's JSON writes as a decimal string (64-bit) or
// a number.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", b)
	}
	*n = num(v)
	return nil
}

type blockID struct {
	Hash  hexBytes `json:"hash"`
	Parts struct {
		Total num      `json:"total"`
		Hash  hexBytes `json:"hash"`
	} `json:"parts"`
}

type header struct {
	Version struct {
		Block num `json:"block"`
		App   num `json:"app"`
	} `json:"version"`
	ChainID            string    `json:"chain_id"`
	Height             num       `json:"height"`
	Time               time.Time `json:"time"`
	LastBlockID        blockID   `json:"last_block_id"`
	LastCommitHash     hexBytes  `json:"last_commit_hash"`
	DataHash           hexBytes  `json:"data_hash"`
	ValidatorsHash     hexBytes  `json:"validators_hash"`
	NextValidatorsHash hexBytes  `json:"next_validators_hash"`
	ConsensusHash      hexBytes  `json:"consensus_hash"`
	AppHash            hexBytes  `json:"app_hash"`
	LastResultsHash    hexBytes  `json:"last_results_hash"`
	EvidenceHash       hexBytes  `json:"evidence_hash"`
	ProposerAddress    hexBytes  `json:"proposer_address"`
}

// Commit signature flags (BlockIDFlag).
const (
	flagAbsent = 1
	flagCommit = 2
	flagNil    = 3
)

type commitSig struct {
	Flag             int       `json:"block_id_flag"`
	ValidatorAddress hexBytes  `json:"validator_address"`
	Timestamp        time.Time `json:"timestamp"`
	Signature        []byte    `json:"signature"`
}

type commit struct {
	Height     num         `json:"height"`
	Round      int32       `json:"round"`
	BlockID    blockID     `json:"block_id"`
	Signatures []commitSig `json:"signatures"`
}

type signedHeader struct {
	Header *header `json:"header"`
	Commit *commit `json:"commit"`
}

type pubKey struct {
	Type  string `json:"type"`
	Value []byte `json:"value"`
}

type validator struct {
	Address     hexBytes `json:"address"`
	PubKey      pubKey   `json:"pub_key"`
	VotingPower num      `json:"voting_power"`
	Power       num      `json:"power"` // the genesis file's name for voting_power
}

type txProof struct {
	RootHash hexBytes `json:"root_hash"`
	Data     []byte   `json:"data"`
	Proof    struct {
		Total    num      `json:"total"`
		Index    num      `json:"index"`
		LeafHash []byte   `json:"leaf_hash"`
		Aunts    [][]byte `json:"aunts"`
	} `json:"proof"`
}

// evidence is a receipt's evidence as tally reads it.
type evidence struct {
	SignedHeader signedHeader `json:"signed_header"`
	Validators   []validator  `json:"validators"`
	TxProof      txProof      `json:"tx_proof"`
}

// Evidence is what a receipt carries, each member the JSON the node's RPC
// returned (FORMATS.md §5.2).
type Evidence struct {
	SignedHeader json.RawMessage   `json:"signed_header"`
	Validators   []json.RawMessage `json:"validators"`
	TxProof      json.RawMessage   `json:"tx_proof"`
}

// maxTotalVotingPower is CometBFT's bound on a validator set's total power.
const maxTotalVotingPower = int64(^uint64(0)>>1) / 8

// hash is the header's hash: the Merkle root of its 14 encoded fields.
func (h *header) hash() ([]byte, error) {
	if len(h.ValidatorsHash) == 0 {
		return nil, errors.New("the header has no validators hash")
	}
	if h.LastBlockID.Parts.Total < 0 || h.LastBlockID.Parts.Total > 1<<32-1 {
		return nil, errors.New("the header's last block id has an impossible part count")
	}
	ts, err := encodeTime(h.Time)
	if err != nil {
		return nil, fmt.Errorf("header time: %w", err)
	}
	version := encodeVersion(uint64(h.Version.Block), uint64(h.Version.App))
	lastBID := encodeBlockID(h.LastBlockID)
	return merkleRoot([][]byte{
		version, wrapString(h.ChainID), wrapInt(int64(h.Height)), ts, lastBID,
		wrapBytes(h.LastCommitHash), wrapBytes(h.DataHash), wrapBytes(h.ValidatorsHash), wrapBytes(h.NextValidatorsHash),
		wrapBytes(h.ConsensusHash), wrapBytes(h.AppHash), wrapBytes(h.LastResultsHash), wrapBytes(h.EvidenceHash),
		wrapBytes(h.ProposerAddress),
	}), nil
}

// valSet is a validator set in the chain's order.
type valSet struct {
	vals  []validator
	total int64
}

// newValSet checks the validators and orders them as CometBFT does: by
// voting power, highest first, then by address.
func newValSet(vs []validator, genesis bool) (*valSet, error) {
	if len(vs) == 0 {
		return nil, errors.New("no validators")
	}
	set := &valSet{vals: append([]validator(nil), vs...)}
	seen := map[string]bool{}
	for i := range set.vals {
		v := &set.vals[i]
		if genesis {
			v.VotingPower = v.Power
		}
		if v.PubKey.Type != "tendermint/PubKeyEd25519" || len(v.PubKey.Value) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("validator %d: key type %q (%d bytes) is not an Ed25519 key", i, v.PubKey.Type, len(v.PubKey.Value))
		}
		sum := sha256.Sum256(v.PubKey.Value)
		addr := sum[:20]
		if len(v.Address) == 0 && genesis {
			v.Address = addr
		}
		if !bytes.Equal(v.Address, addr) {
			return nil, fmt.Errorf("validator %d: address %X is not its key's address %X", i, []byte(v.Address), addr)
		}
		if seen[string(addr)] {
			return nil, fmt.Errorf("validator %X is listed twice", addr)
		}
		seen[string(addr)] = true
		if v.VotingPower <= 0 || int64(v.VotingPower) > maxTotalVotingPower-set.total {
			return nil, fmt.Errorf("validator %X: voting power %d is out of range", addr, v.VotingPower)
		}
		set.total += int64(v.VotingPower)
	}
	sort.SliceStable(set.vals, func(i, j int) bool {
		a, b := set.vals[i], set.vals[j]
		if a.VotingPower != b.VotingPower {
			return a.VotingPower > b.VotingPower
		}
		return bytes.Compare(a.Address, b.Address) < 0
	})
	return set, nil
}

// hash is the validator set hash: the Merkle root of each validator's
// SimpleValidator encoding.
func (s *valSet) hash() []byte {
	items := make([][]byte, len(s.vals))
	for i, v := range s.vals {
		items[i] = encodeSimpleValidator(v.PubKey.Value, int64(v.VotingPower))
	}
	return merkleRoot(items)
}

// verifyCommit checks every signature for the block and that the signers
// hold more than 2/3 of the voting power; it returns the signed power.
func (s *valSet) verifyCommit(chainID string, c *commit, height int64, blockHash []byte) (int64, error) {
	if int64(c.Height) != height {
		return 0, fmt.Errorf("the commit is for height %d, the header is %d", c.Height, height)
	}
	if !bytes.Equal(c.BlockID.Hash, blockHash) {
		return 0, fmt.Errorf("the commit is for block %X, the header hashes to %X", []byte(c.BlockID.Hash), blockHash)
	}
	if len(c.Signatures) != len(s.vals) {
		return 0, fmt.Errorf("the commit has %d signatures for %d validators", len(c.Signatures), len(s.vals))
	}
	if c.BlockID.Parts.Total < 0 || c.BlockID.Parts.Total > 1<<32-1 {
		return 0, errors.New("the commit's block id has an impossible part count")
	}
	var signed int64
	for i, sig := range c.Signatures {
		switch sig.Flag {
		case flagAbsent:
			if len(sig.ValidatorAddress) != 0 || len(sig.Signature) != 0 {
				return 0, fmt.Errorf("signature %d is marked absent but carries an address or signature", i)
			}
			continue
		case flagNil:
			continue // a vote for no block: counts for nothing
		case flagCommit:
		default:
			return 0, fmt.Errorf("signature %d has unknown flag %d", i, sig.Flag)
		}
		v := s.vals[i]
		if !bytes.Equal(sig.ValidatorAddress, v.Address) {
			return 0, fmt.Errorf("signature %d is by %X, the validator at that index is %X", i, []byte(sig.ValidatorAddress), []byte(v.Address))
		}
		msg, err := voteSignBytes(chainID, height, c.Round, c.BlockID, sig.Timestamp)
		if err != nil {
			return 0, fmt.Errorf("signature %d: %w", i, err)
		}
		if len(sig.Signature) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(v.PubKey.Value), msg, sig.Signature) {
			return 0, fmt.Errorf("validator %X's signature (index %d) does not verify", []byte(v.Address), i)
		}
		signed += int64(v.VotingPower)
	}
	if signed <= s.total*2/3 {
		return signed, fmt.Errorf("signed by %d of %d voting power, not more than 2/3", signed, s.total)
	}
	return signed, nil
}

// TrustFromGenesis returns the trust root of a chain's genesis file: its
// chain id and the hash of its initial validator set.
func TrustFromGenesis(path string) (ledger.Trust, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ledger.Trust{}, fmt.Errorf("genesis: %w", err)
	}
	var g struct {
		ChainID    string      `json:"chain_id"`
		Validators []validator `json:"validators"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return ledger.Trust{}, fmt.Errorf("genesis %s: not a CometBFT genesis file: %w", path, err)
	}
	if g.ChainID == "" {
		return ledger.Trust{}, fmt.Errorf("genesis %s has no chain_id", path)
	}
	if len(g.Validators) == 0 {
		return ledger.Trust{}, fmt.Errorf("genesis %s lists no validators (the app sets them): pin the validator set hash instead", path)
	}
	set, err := newValSet(g.Validators, true)
	if err != nil {
		return ledger.Trust{}, fmt.Errorf("genesis %s: %w", path, err)
	}
	return ledger.Trust{ChainID: g.ChainID, ValidatorsHash: set.hash()}, nil
}

// Verify checks a CometBFT receipt's evidence offline, appending the steps
// "chain id", "validator set", "signed header", "commit" and "tx in block".
// Members of trust left empty are taken from the evidence and the step says
// they are NOT pinned.
func Verify(s *ledger.Steps, r *ledger.Receipt, trust ledger.Trust) error {
	// CometBFT's JSON has exact member names; encoding/json would take
	// "Signed_Header" for "signed_header".
	exact, err := jsonexact.Strip(r.Evidence, &evidence{})
	if err != nil {
		return s.Fail("chain id", err)
	}
	var ev evidence
	if err := json.Unmarshal(exact, &ev); err != nil {
		return s.Fail("chain id", fmt.Errorf("the receipt's evidence is not CometBFT evidence JSON: %w", err))
	}
	h, c := ev.SignedHeader.Header, ev.SignedHeader.Commit
	if h == nil || c == nil {
		return s.Fail("chain id", errors.New("the receipt's evidence has no signed header"))
	}

	if h.ChainID != r.Network {
		return s.Fail("chain id", fmt.Errorf("the header is from chain %q, the receipt says %q", h.ChainID, r.Network))
	}
	if trust.ChainID != "" {
		if h.ChainID != trust.ChainID {
			return s.Fail("chain id", fmt.Errorf("the block is from chain %q, not the pinned chain %q", h.ChainID, trust.ChainID))
		}
		s.OK("chain id", "%s (pinned)", h.ChainID)
	} else {
		s.OK("chain id", "%s (NOT pinned: pass the chain's genesis to pin it)", h.ChainID)
	}

	vals, err := newValSet(ev.Validators, false)
	if err != nil {
		return s.Fail("validator set", err)
	}
	vh := vals.hash()
	if !bytes.Equal(vh, h.ValidatorsHash) {
		return s.Fail("validator set", fmt.Errorf("the evidence's validators hash to %X, the header names %X", vh, []byte(h.ValidatorsHash)))
	}
	if len(trust.ValidatorsHash) > 0 {
		if !bytes.Equal(vh, trust.ValidatorsHash) {
			return s.Fail("validator set", fmt.Errorf("the block was signed by validator set %X, not the pinned set %X", vh, trust.ValidatorsHash))
		}
		s.OK("validator set", "%d validators, total power %d, hash %X (pinned)", len(vals.vals), vals.total, vh)
	} else {
		s.OK("validator set", "%d validators, total power %d, hash %X (NOT pinned: pass the chain's genesis or validator set hash)", len(vals.vals), vals.total, vh)
	}

	bh, err := h.hash()
	if err != nil {
		return s.Fail("signed header", err)
	}
	if h.Height <= 0 {
		return s.Fail("signed header", fmt.Errorf("header height %d", h.Height))
	}
	if !bytes.Equal(c.BlockID.Hash, bh) {
		return s.Fail("signed header", fmt.Errorf("the commit is for block %X, the header hashes to %X", []byte(c.BlockID.Hash), bh))
	}
	if r.Height != int64(h.Height) || !strings.EqualFold(r.BlockHash, hex.EncodeToString(bh)) {
		return s.Fail("signed header", fmt.Errorf("the receipt names block %d %s, the evidence is block %d %X", r.Height, r.BlockHash, h.Height, bh))
	}
	if !r.BlockTime.Equal(h.Time) {
		return s.Fail("signed header", fmt.Errorf("the receipt's block time %s is not the header's %s", r.BlockTime.UTC().Format(time.RFC3339Nano), h.Time.UTC().Format(time.RFC3339Nano)))
	}
	s.OK("signed header", "block %d, hash %X, time %s; the commit is for this header", h.Height, bh, h.Time.UTC().Format(time.RFC3339))

	signed, err := vals.verifyCommit(h.ChainID, c, int64(h.Height), bh)
	if err != nil {
		return s.Fail("commit", fmt.Errorf("the commit is not signed by more than 2/3 of the voting power: %w", err))
	}
	s.OK("commit", "signed by %d of %d voting power (more than 2/3), every signature checked", signed, vals.total)

	p := ev.TxProof
	if !bytes.Equal(p.RootHash, h.DataHash) {
		return s.Fail("tx in block", fmt.Errorf("the tx proof is for data hash %X, the block's is %X", []byte(p.RootHash), []byte(h.DataHash)))
	}
	leaf := sha256.Sum256(p.Data)
	if err := verifyTxProof(p.RootHash, int64(p.Proof.Total), int64(p.Proof.Index), p.Proof.LeafHash, p.Proof.Aunts, leaf[:]); err != nil {
		return s.Fail("tx in block", fmt.Errorf("the tx proof does not lead to the block's data hash: %w", err))
	}
	if !bytes.Equal(p.Data, r.Payload) {
		return s.Fail("tx in block", errors.New("the proven tx is not the receipt's payload"))
	}
	if !strings.EqualFold(hex.EncodeToString(leaf[:]), r.TxID) {
		return s.Fail("tx in block", fmt.Errorf("the tx hashes to %X, the receipt names %s", leaf, r.TxID))
	}
	s.OK("tx in block", "tx %s is tx %d of %d in block %d (Merkle proof to the data hash %X)", r.TxID, p.Proof.Index, p.Proof.Total, h.Height, []byte(h.DataHash))
	return nil
}
