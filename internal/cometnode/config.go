package cometnode

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// setting is one config.toml key to overwrite: section "" is the top level,
// value is already TOML (quoted if a string).
type setting struct {
	section, key, value string
}

// tomlString quotes s as a TOML basic string. Go's quoting agrees with TOML
// for everything this package writes (printable ASCII).
func tomlString(s string) string { return strconv.Quote(s) }

// setKeys overwrites keys in the config.toml that `cometbft init` writes:
// each key must be present once in its section, as `key = value` on one
// line, or setKeys fails, so that a changed file format shows up as an error
// instead of a silently ignored setting. Comments and order are kept.
func setKeys(conf []byte, sets []setting) ([]byte, error) {
	want := make(map[[2]string]int, len(sets))
	for i, s := range sets {
		want[[2]string{s.section, s.key}] = i
	}
	found := make([]int, len(sets))
	lines := bytes.SplitAfter(conf, []byte("\n"))
	var out bytes.Buffer
	section := ""
	for _, line := range lines {
		text := strings.TrimSpace(string(line))
		switch {
		case strings.HasPrefix(text, "[["):
			section = strings.Trim(text, "[] \t")
		case strings.HasPrefix(text, "["):
			section = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(text, "["), "]"))
		case text != "" && text[0] != '#':
			key, _, ok := strings.Cut(text, "=")
			if !ok {
				break
			}
			i, ok := want[[2]string{section, strings.TrimSpace(key)}]
			if !ok {
				break
			}
			found[i]++
			nl := ""
			if bytes.HasSuffix(line, []byte("\n")) {
				nl = "\n"
			}
			fmt.Fprintf(&out, "%s = %s%s", sets[i].key, sets[i].value, nl)
			continue
		}
		out.Write(line)
	}
	var errs []error
	for i, n := range found {
		if n != 1 {
			errs = append(errs, fmt.Errorf("config.toml: key %s in [%s] appears %d times, want once", sets[i].key, sets[i].section, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// setChainID returns genesis with chain_id replaced, all other fields kept
// as they were (keys come out sorted).
func setChainID(genesis []byte, chainID string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(genesis, &doc); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if _, ok := doc["chain_id"]; !ok {
		return nil, errors.New("genesis: no chain_id")
	}
	id, err := json.Marshal(chainID)
	if err != nil {
		return nil, err
	}
	doc["chain_id"] = id
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// genesisChainID reads chain_id from a genesis document.
func genesisChainID(genesis []byte) (string, error) {
	var doc struct {
		ChainID *string `json:"chain_id"`
	}
	if err := json.Unmarshal(genesis, &doc); err != nil {
		return "", fmt.Errorf("genesis: %w", err)
	}
	if doc.ChainID == nil || *doc.ChainID == "" {
		return "", errors.New("genesis: no chain_id")
	}
	return *doc.ChainID, nil
}

// validChainID reports whether CometBFT accepts id as a chain ID (at most 50
// characters) and this package can write it into config without escaping.
func validChainID(id string) error {
	if id == "" || len(id) > 50 {
		return fmt.Errorf("chain id %q: want 1 to 50 characters", id)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' || r == '"' || r == '\\' {
			return fmt.Errorf("chain id %q: want printable ASCII without spaces or quotes", id)
		}
	}
	return nil
}

// nodeID computes the p2p node ID from a node_key.json: the hex of the
// first 20 bytes of SHA-256 over the ed25519 public key.
func nodeID(nodeKey []byte) (string, error) {
	var k struct {
		PrivKey struct {
			Type  string `json:"type"`
			Value []byte `json:"value"`
		} `json:"priv_key"`
	}
	if err := json.Unmarshal(nodeKey, &k); err != nil {
		return "", fmt.Errorf("node key: %w", err)
	}
	if k.PrivKey.Type != "tendermint/PrivKeyEd25519" {
		return "", fmt.Errorf("node key: type %q, want tendermint/PrivKeyEd25519", k.PrivKey.Type)
	}
	if len(k.PrivKey.Value) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("node key: %d bytes, want %d", len(k.PrivKey.Value), ed25519.PrivateKeySize)
	}
	pub := ed25519.PrivateKey(k.PrivKey.Value).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:20]), nil
}

// status is what this package reads from the RPC's /status.
type status struct {
	NodeID  string // node_info.id
	Network string // node_info.network, the chain ID
	Height  int64  // sync_info.latest_block_height
}

// parseStatus parses the JSON-RPC answer of GET /status.
func parseStatus(body []byte) (status, error) {
	var r struct {
		Result *struct {
			NodeInfo struct {
				ID      string `json:"id"`
				Network string `json:"network"`
			} `json:"node_info"`
			SyncInfo struct {
				LatestBlockHeight string `json:"latest_block_height"`
			} `json:"sync_info"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return status{}, fmt.Errorf("status: %w", err)
	}
	if r.Error != nil {
		return status{}, fmt.Errorf("status: RPC error %d: %s %s", r.Error.Code, r.Error.Message, r.Error.Data)
	}
	if r.Result == nil {
		return status{}, errors.New("status: no result")
	}
	h, err := strconv.ParseInt(r.Result.SyncInfo.LatestBlockHeight, 10, 64)
	if err != nil || h < 0 {
		return status{}, fmt.Errorf("status: latest_block_height %q is not a height", r.Result.SyncInfo.LatestBlockHeight)
	}
	return status{NodeID: r.Result.NodeInfo.ID, Network: r.Result.NodeInfo.Network, Height: h}, nil
}
