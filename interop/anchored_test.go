package interop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/cometnode"
)

// The anchored gateway logs firstSize readings, checkpoints, then
// anchoredSize-firstSize more and checkpoints again, so that a reading
// from the first part has a bundle checkpoint of size firstSize anchored by
// the checkpoint of size anchoredSize (a non-empty consistency proof), and
// a reading from the second part has equal sizes (an empty one).
const (
	firstSize    = 13
	anchoredSize = 20
)

// anchoredSteps is how many steps FORMATS.md §5, §5.1 and §5.2 make for a
// CometBFT-anchored bundle.
const anchoredSteps = 15

// eip55Address is one of EIP-55's test cases: an EVM address in its
// checksummed form, for pinning a sender where none belongs.
const eip55Address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

// chain is a CometBFT net the test gateway anchors on.
type chain struct {
	name    string
	net     *cometnode.Net
	genesis string // path of its genesis.json
}

func testAnchored(t *testing.T, e *env) {
	start := time.Now()
	c := startChain(t, e, "single", func(ctx context.Context, dir string) (*cometnode.Net, error) {
		return cometnode.StartSingle(ctx, dir, cometnode.Options{ChainID: "tally-interop", Progress: t.Output()})
	})
	a := anchorGateway(t, e, c, "gw-anchor")
	c.stop(t) // the bundles hold all the evidence: verification is offline
	t.Logf("single validator: chain up, gateway anchored and bundles exported in %s", time.Since(start).Round(time.Millisecond))

	genesisPins := []string{"--genesis", c.genesis}
	for _, seq := range []int{0, firstSize - 1, firstSize, anchoredSize - 1} {
		b := a.bundles[seq]
		t.Run(fmt.Sprintf("valid/seq-%d", seq), func(t *testing.T) {
			bundle := readBundle(t, b)
			if bundle["format"] != "tally-proof-bundle/2" {
				t.Fatalf("bundle of seq %d is %v, want tally-proof-bundle/2", seq, bundle["format"])
			}
			anchor := bundle["anchor"].(map[string]any)
			proof := anchor["consistency_proof"].([]any)
			wantTree := firstSize
			if seq >= firstSize {
				wantTree = anchoredSize
			}
			if int(bundle["tree_size"].(float64)) != wantTree || (len(proof) == 0) != (wantTree == anchoredSize) {
				t.Errorf("seq %d: tree_size %v with %d consistency hashes, want tree_size %d anchored at %d", seq, bundle["tree_size"], len(proof), wantTree, anchoredSize)
			}
			expectOK(t, e, b, "", nil, anchoredSteps)
			expectOK(t, e, b, a.idJSON, genesisPins, anchoredSteps)
			expectOK(t, e, b, a.idJSON, []string{"--chain-id", a.chainID, "--validators-hash", a.validatorsHash}, anchoredSteps)
		})
	}

	otherChain := a.genesisVariant(t, "other-chain.json", func(g map[string]any) { g["chain_id"] = "another-chain" })
	otherVals := a.genesisVariant(t, "other-validators.json", func(g map[string]any) {
		// Same chain id, another validator: a consortium's genesis that is
		// not this chain's.
		pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32)).Public().(ed25519.PublicKey)
		addr := sha256.Sum256(pub)
		v := g["validators"].([]any)[0].(map[string]any)
		v["pub_key"].(map[string]any)["value"] = base64.StdEncoding.EncodeToString(pub)
		v["address"] = strings.ToUpper(hex.EncodeToString(addr[:20]))
	})
	otherPower := a.genesisVariant(t, "other-power.json", func(g map[string]any) {
		g["validators"].([]any)[0].(map[string]any)["power"] = "11"
	})

	type tamper struct {
		name, step string
		seq        int
		pins       []string // ledger pins for the pinned run
		unpinned   bool     // also detectable without pins
		edit       func(t *testing.T, b map[string]any)
	}
	receipt := func(b map[string]any) map[string]any {
		return b["anchor"].(map[string]any)["receipt"].(map[string]any)
	}
	evidence := func(b map[string]any) map[string]any { return receipt(b)["evidence"].(map[string]any) }
	commit := func(b map[string]any) map[string]any {
		return evidence(b)["signed_header"].(map[string]any)["commit"].(map[string]any)
	}
	tampers := []tamper{
		{"consistency-proof-hash", "consistency", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			p := b["anchor"].(map[string]any)["consistency_proof"].([]any)
			p[len(p)/2] = flipB64(t, p[len(p)/2].(string), 7)
		}},
		{"anchored-checkpoint-size", "anchored checkpoint", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			anchor := b["anchor"].(map[string]any)
			lines := strings.SplitN(anchor["checkpoint"].(string), "\n", 3)
			lines[1] = strconv.Itoa(anchoredSize + 1)
			anchor["checkpoint"] = strings.Join(lines, "\n")
		}},
		{"anchored-checkpoint-is-bundle-checkpoint", "consistency", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			// Same size as the bundle's, so the consistency proof is one
			// where none may be.
			b["anchor"].(map[string]any)["checkpoint"] = b["checkpoint"]
		}},
		{"wrong-pinned-chain-id", "chain id", 0, []string{"--chain-id", "another-chain"}, false, nil},
		{"genesis-of-another-chain", "chain id", 0, []string{"--genesis", otherChain}, false, nil},
		{"genesis-with-other-validators", "validator set", 0, []string{"--genesis", otherVals}, false, nil},
		{"genesis-with-other-power", "validator set", 0, []string{"--genesis", otherPower}, false, nil},
		{"wrong-pinned-validators-hash", "validator set", 0, []string{"--validators-hash", strings.Repeat("AB", 32)}, false, nil},
		{"receipt-network", "chain id", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["network"] = "another-chain"
		}},
		{"validator-voting-power", "validator set", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			v := evidence(b)["validators"].([]any)[0].(map[string]any)
			p, _ := strconv.Atoi(v["voting_power"].(string))
			v["voting_power"] = strconv.Itoa(p + 1)
		}},
		{"receipt-height", "signed header", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["height"] = receipt(b)["height"].(float64) + 1
		}},
		// A JSON integer passes format; it is not the header's height
		// (§5.2 step 3).
		{"receipt-height--1", "signed header", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["height"] = -1.0
		}},
		{"receipt-height-with-fraction", "format", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			writeNumberAs(t, receipt(b), "height", ".0")
		}},
		{"header-app-hash", "signed header", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			h := evidence(b)["signed_header"].(map[string]any)["header"].(map[string]any)
			h["app_hash"] = strings.Repeat("11", 32)
		}},
		{"commit-signature-byte", "commit", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			sigs := commit(b)["signatures"].([]any)
			s := sigs[0].(map[string]any)
			s["signature"] = flipB64(t, s["signature"].(string), 20)
		}},
		{"commit-vote-timestamp", "commit", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			// The timestamp is signed: a second later, the signature no
			// longer verifies.
			s := commit(b)["signatures"].([]any)[0].(map[string]any)
			ts, err := time.Parse(time.RFC3339Nano, s["timestamp"].(string))
			if err != nil {
				t.Fatal(err)
			}
			s["timestamp"] = ts.Add(time.Second).Format(time.RFC3339Nano)
		}},
		{"tx-proof-data-byte", "tx in block", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			tp := evidence(b)["tx_proof"].(map[string]any)
			tp["data"] = flipB64(t, tp["data"].(string), 5)
		}},
		{"tx-id", "tx in block", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["tx_id"] = strings.Repeat("0", 64)
		}},
		{"tx-format", "checkpoint in tx", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			// The tx on the ledger is unchanged, but the template no longer
			// renders to it.
			receipt(b)["tx_format"] = "tally.{origin_b64url}.{size}={root_b64}.{note_sha256_hex}"
		}},
		{"unknown-ledger", "ledger", 0, genesisPins, true, func(t *testing.T, b map[string]any) {
			receipt(b)["ledger"] = "example"
		}},
		{"format-1-with-anchor", "format", firstSize, genesisPins, true, func(t *testing.T, b map[string]any) {
			b["format"] = "tally-proof-bundle/1"
		}},
		// FORMATS.md §5.1 step 10: a sender pins an EVM ledger.
		{"pinned-sender", "ledger", 0, append([]string{"--sender", eip55Address}, genesisPins...), false, nil},
		{"pinned-sender-alone", "ledger", 0, []string{"--sender", strings.ToLower(eip55Address)}, false, nil},
		// A CometBFT chain id is any string: one that is no EVM chain id
		// in decimal is not a usage error here, just another chain.
		{"pinned-chain-id-leading-zero", "chain id", 0, []string{"--chain-id", "01337"}, false, nil},
		{"pinned-chain-id-in-hex", "chain id", 0, []string{"--chain-id", "0x539", "--validators-hash", a.validatorsHash}, false, nil},
	}
	for _, tc := range tampers {
		t.Run("tampered/"+tc.name, func(t *testing.T) {
			expectTampered(t, e, a.bundles[tc.seq], "anchored-"+tc.name, tc.edit, tc.unpinned, a.idJSON, tc.step, tc.pins...)
		})
	}

	// FORMATS.md §5.1: a pin that is not well formed is a usage error, on
	// a CometBFT receipt too.
	t.Run("usage/sender-bad-checksum", func(t *testing.T) {
		bad := "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed" // eip55Address with its first letter in lower case
		expectUsage(t, e, a.bundles[0], a.idJSON, append([]string{"--sender", bad}, genesisPins...)...)
	})

	t.Run("4-validators", func(t *testing.T) { testAnchoredTestnet(t, e) })

	// The receipt's block_time must be the header's (FORMATS.md §5.2,
	// "signed header"): both verifiers fail a misstated one there.
	t.Run("tampered/receipt-block-time", func(t *testing.T) {
		b := readBundle(t, a.bundles[0])
		receipt(b)["block_time"] = "2020-01-01T00:00:00Z"
		path := filepath.Join(e.work, "anchored-block-time.json")
		writeJSON(t, path, b)
		expectFail(t, e, path, a.idJSON, "signed header", genesisPins...)
	})
}

// startChain starts a CometBFT net with start under a fresh directory and
// stops it when the test ends. A missing cometbft fails the test with
// cometnode's error, which says how to install it.
func startChain(t *testing.T, e *env, name string, start func(context.Context, string) (*cometnode.Net, error)) *chain {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(e.work, "chain-"+name)
	n, err := start(ctx, dir)
	if err != nil {
		t.Fatalf("start a CometBFT %s net: %v\n(the anchored cases need cometbft v%s: %s, or set %s to one)", name, err, cometnode.Version, cometnode.Install, cometnode.EnvBinary)
	}
	c := &chain{name: name, net: n, genesis: n.Genesis()}
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop stops the net's nodes; it can be called more than once.
func (c *chain) stop(t *testing.T) {
	t.Helper()
	if err := c.net.Stop(); err != nil {
		t.Errorf("stop the CometBFT %s net: %v", c.name, err)
	}
}

// anchored is a gateway whose readings are anchored on a chain, and the
// bundles exported for them.
type anchored struct {
	idJSON  string
	bundles map[int]string // seq -> bundle file

	// CometBFT chains only.
	genesis        string
	chainID        string
	validatorsHash string // upper-case hex, as CometBFT prints it
}

// anchorGateway logs readings in two checkpoints with a real gateway, runs
// `tally run` with an anchor: section for c until it has anchored the
// second checkpoint, and exports bundles.
func anchorGateway(t *testing.T, e *env, c *chain, id string) *anchored {
	t.Helper()
	a := anchorOn(t, e, id, fmt.Sprintf(`  backend: cometbft
  interval: 1s
  cometbft:
    rpc: %s
    genesis: %s
`, c.net.Node(0).RPC(), c.genesis), nil)
	a.genesis, a.chainID = c.genesis, c.net.ChainID()
	h := readBundle(t, a.bundles[0])["anchor"].(map[string]any)["receipt"].(map[string]any)["evidence"].(map[string]any)["signed_header"].(map[string]any)["header"].(map[string]any)
	a.validatorsHash = h["validators_hash"].(string)
	return a
}

// waitAnchored polls `tally status --json` until the daemon reports an
// anchor of at least size readings.
func waitAnchored(t *testing.T, e *env, conf, data string, size int, limit time.Duration) (int, error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		c := exec.Command(e.tally, "status", "--json", "--config", conf, "--data", data)
		out, err := c.Output()
		if err == nil {
			var st struct {
				Anchor struct {
					LastAnchoredSize int    `json:"last_anchored_size"`
					State            string `json:"state"`
				} `json:"anchor"`
			}
			if err := json.Unmarshal(out, &st); err != nil {
				return 0, fmt.Errorf("tally status --json: %w\n%s", err, out)
			}
			if st.Anchor.LastAnchoredSize >= size {
				return st.Anchor.LastAnchoredSize, nil
			}
			last = fmt.Sprintf("anchor state %q, last anchored size %d", st.Anchor.State, st.Anchor.LastAnchoredSize)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return 0, fmt.Errorf("no anchor of size %d within %s (last: %s)", size, limit, last)
}

// genesisVariant writes a copy of the chain's genesis changed by edit.
func (a *anchored) genesisVariant(t *testing.T, name string, edit func(map[string]any)) string {
	t.Helper()
	var g map[string]any
	if err := json.Unmarshal([]byte(readFile(t, a.genesis)), &g); err != nil {
		t.Fatalf("%s: %v", a.genesis, err)
	}
	edit(g)
	path := filepath.Join(filepath.Dir(a.idJSON), name)
	writeJSON(t, path, g)
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// flipB64 flips one bit of byte i of a base64 string's bytes.
func flipB64(t *testing.T, s string, i int) string {
	t.Helper()
	b := decodeB64(t, s)
	if i >= len(b) {
		t.Fatalf("flip byte %d of %d", i, len(b))
	}
	b[i] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

// testAnchoredTestnet anchors on four validators of equal power, one of them
// down: commits then hold three signatures for the block and one absent
// (block_id_flag 1), and the validator set is ordered by address.
func testAnchoredTestnet(t *testing.T, e *env) {
	start := time.Now()
	c := startChain(t, e, "testnet", func(ctx context.Context, dir string) (*cometnode.Net, error) {
		return cometnode.StartTestnet(ctx, dir, 4, cometnode.Options{ChainID: "tally-interop-4", Progress: t.Output()})
	})
	if err := c.net.Node(3).Kill(); err != nil {
		t.Fatal(err)
	}
	a := anchorGateway(t, e, c, "gw-anchor-4")
	c.stop(t)
	t.Logf("4 validators: chain up, node3 killed, gateway anchored and bundles exported in %s", time.Since(start).Round(time.Millisecond))
	pins := []string{"--genesis", c.genesis}

	b0 := readBundle(t, a.bundles[0])
	ev := b0["anchor"].(map[string]any)["receipt"].(map[string]any)["evidence"].(map[string]any)
	sigs := ev["signed_header"].(map[string]any)["commit"].(map[string]any)["signatures"].([]any)
	flags := map[float64]int{}
	for _, s := range sigs {
		flags[s.(map[string]any)["block_id_flag"].(float64)]++
	}
	if len(ev["validators"].([]any)) != 4 || flags[2] != 3 || flags[1] != 1 {
		t.Fatalf("the anchoring block's commit has flags %v for %d validators, want 3 for the block (2) and 1 absent (1) of 4", flags, len(ev["validators"].([]any)))
	}

	for _, seq := range []int{0, anchoredSize - 1} {
		t.Run(fmt.Sprintf("valid/seq-%d", seq), func(t *testing.T) {
			expectOK(t, e, a.bundles[seq], "", nil, anchoredSteps)
			expectOK(t, e, a.bundles[seq], a.idJSON, pins, anchoredSteps)
		})
	}
	t.Run("valid/validators-listed-in-another-order", func(t *testing.T) {
		// FORMATS.md §5.2: the validators are ordered by voting power,
		// then address, before hashing; the RPC's order is that order
		// already, and a reversed list names the same set.
		b := readBundle(t, a.bundles[0])
		vals := evidenceOf(b)["validators"].([]any)
		for i, j := 0, len(vals)-1; i < j; i, j = i+1, j-1 {
			vals[i], vals[j] = vals[j], vals[i]
		}
		path := filepath.Join(e.work, "testnet-validators-reversed.json")
		writeJSON(t, path, b)
		expectOK(t, e, path, a.idJSON, pins, anchoredSteps)
	})

	type tamper struct {
		name, step string
		edit       func(t *testing.T, b map[string]any)
	}
	for _, tc := range []tamper{
		{"commit-signature-byte", "commit", func(t *testing.T, b map[string]any) {
			s := firstSig(t, b, 2)
			s["signature"] = flipB64(t, s["signature"].(string), 33)
		}},
		{"commit-without-quorum", "commit", func(t *testing.T, b map[string]any) {
			// Two of four signatures for the block is not more than 2/3.
			s := firstSig(t, b, 2)
			s["block_id_flag"] = 1.0
			s["validator_address"] = ""
			s["timestamp"] = "0001-01-01T00:00:00Z"
			s["signature"] = nil
		}},
		{"commit-signatures-swapped", "commit", func(t *testing.T, b map[string]any) {
			// Signatures are by index into the validator set.
			sigs := commitOf(b)["signatures"].([]any)
			var for2 []int
			for i, s := range sigs {
				if s.(map[string]any)["block_id_flag"].(float64) == 2 {
					for2 = append(for2, i)
				}
			}
			sigs[for2[0]], sigs[for2[1]] = sigs[for2[1]], sigs[for2[0]]
		}},
		{"validator-keys-swapped", "validator set", func(t *testing.T, b map[string]any) {
			// Keys swapped, addresses kept: an address is SHA-256(key)[:20].
			vals := evidenceOf(b)["validators"].([]any)
			v0, v1 := vals[0].(map[string]any), vals[1].(map[string]any)
			v0["pub_key"], v1["pub_key"] = v1["pub_key"], v0["pub_key"]
		}},
		{"validator-dropped", "validator set", func(t *testing.T, b map[string]any) {
			ev := evidenceOf(b)
			ev["validators"] = ev["validators"].([]any)[:3]
		}},
	} {
		t.Run("tampered/"+tc.name, func(t *testing.T) {
			b := readBundle(t, a.bundles[0])
			tc.edit(t, b)
			path := filepath.Join(e.work, "testnet-tampered-"+tc.name+".json")
			writeJSON(t, path, b)
			expectFail(t, e, path, "", tc.step)
			expectFail(t, e, path, a.idJSON, tc.step, pins...)
		})
	}
}

func evidenceOf(b map[string]any) map[string]any {
	return b["anchor"].(map[string]any)["receipt"].(map[string]any)["evidence"].(map[string]any)
}

func commitOf(b map[string]any) map[string]any {
	return evidenceOf(b)["signed_header"].(map[string]any)["commit"].(map[string]any)
}

// firstSig returns the first commit signature with block_id_flag flag.
func firstSig(t *testing.T, b map[string]any, flag float64) map[string]any {
	t.Helper()
	for _, s := range commitOf(b)["signatures"].([]any) {
		if m := s.(map[string]any); m["block_id_flag"].(float64) == flag {
			return m
		}
	}
	t.Fatalf("no commit signature with block_id_flag %v", flag)
	return nil
}

// expectTampered writes a copy of the bundle at path edited by edit (none:
// the bundle as it is) and checks both verifiers fail it at step: with the
// pinned keys in idJSON and pins, and also unpinned when asked.
func expectTampered(t *testing.T, e *env, path, name string, edit func(*testing.T, map[string]any), unpinned bool, idJSON, step string, pins ...string) {
	t.Helper()
	if edit != nil {
		b := readBundle(t, path)
		edit(t, b)
		path = filepath.Join(e.work, "tampered-"+name+".json")
		writeJSON(t, path, b)
	}
	if unpinned {
		expectFail(t, e, path, "", step)
	}
	expectFail(t, e, path, idJSON, step, pins...)
}
