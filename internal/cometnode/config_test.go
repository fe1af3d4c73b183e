package cometnode

import (
	"strings"
	"testing"
)

const confSample = `# top comment
proxy_app = "tcp://127.0.0.1:26658"
moniker = "vm"

[rpc]
# laddr = "commented"
laddr = "tcp://127.0.0.1:26657"

[p2p]
laddr = "tcp://0.0.0.0:26656"
persistent_peers = ""
`

func TestSetKeys(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		sets    []setting
		want    string // "" when an error is wanted
		wantErr string
	}{
		{
			name: "top and sections",
			conf: confSample,
			sets: []setting{
				{"", "moniker", `"node0"`},
				{"rpc", "laddr", `"tcp://127.0.0.2:1"`},
				{"p2p", "laddr", `"tcp://127.0.0.2:2"`},
			},
			want: strings.NewReplacer(
				`moniker = "vm"`, `moniker = "node0"`,
				`laddr = "tcp://127.0.0.1:26657"`, `laddr = "tcp://127.0.0.2:1"`,
				`laddr = "tcp://0.0.0.0:26656"`, `laddr = "tcp://127.0.0.2:2"`,
			).Replace(confSample),
		},
		{
			name: "no trailing newline, indented key",
			conf: "[a]\n  k = 1",
			sets: []setting{{"a", "k", "2"}},
			want: "[a]\nk = 2",
		},
		{
			name:    "missing key",
			conf:    confSample,
			sets:    []setting{{"rpc", "moniker", `"x"`}},
			wantErr: "key moniker in [rpc] appears 0 times",
		},
		{
			name:    "key twice",
			conf:    "a = 1\na = 2\n",
			sets:    []setting{{"", "a", "3"}},
			wantErr: "appears 2 times",
		},
		{
			name:    "comments do not count",
			conf:    "# a = 1\n",
			sets:    []setting{{"", "a", "3"}},
			wantErr: "appears 0 times",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := setKeys([]byte(tt.conf), tt.sets)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func FuzzSetKeys(f *testing.F) {
	f.Add([]byte(confSample), "rpc", "laddr")
	f.Add([]byte("[[x]]\na=1\n[y\n=\n"), "", "a")
	f.Fuzz(func(t *testing.T, conf []byte, section, key string) {
		out, err := setKeys(conf, []setting{{section, key, "1"}})
		if err == nil && !strings.Contains(string(out), key+" = 1") {
			t.Fatalf("no %s = 1 in %q", key, out)
		}
	})
}

func TestChainID(t *testing.T) {
	gen := []byte(`{"genesis_time":"2026-11-21T08:07:30Z","chain_id":"test-chain-IjTaP5","initial_height":"0","app_hash":""}`)
	out, err := setChainID(gen, "tally-local")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := genesisChainID(out); err != nil || id != "tally-local" {
		t.Fatalf("chain id %q, %v", id, err)
	}
	for _, keep := range []string{`"initial_height": "0"`, `"app_hash": ""`, `"genesis_time": "2026-11-21T08:07:30Z"`} {
		if !strings.Contains(string(out), keep) {
			t.Errorf("lost %s:\n%s", keep, out)
		}
	}
	if _, err := setChainID([]byte(`{"a":1}`), "x"); err == nil {
		t.Error("genesis without chain_id accepted")
	}
	if _, err := genesisChainID([]byte(`[]`)); err == nil {
		t.Error("array accepted as genesis")
	}
	for _, bad := range []string{"", "a b", `a"b`, strings.Repeat("x", 51), "ä"} {
		if validChainID(bad) == nil {
			t.Errorf("chain id %q accepted", bad)
		}
	}
}

func TestNodeID(t *testing.T) {
	// A key made by `cometbft testnet`, and what `cometbft show-node-id`
	// printed for it.
	key := `{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"/l0VupGOR3FyD4cFXdB1tN6CYi5maR2iCWFWUadLnhrVCsnTn1VO1NTAT7FOHnOgT/rBz59HzvGbatX2Gdxn/g=="}}`
	id, err := nodeID([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if want := "9af5b657cbef35e0d5f3dd15de3526061179d340"; id != want {
		t.Errorf("id %s, want %s", id, want)
	}
	for _, bad := range []string{
		`{}`,
		`{"priv_key":{"type":"tendermint/PrivKeySecp256k1","value":"AAAA"}}`,
		`{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"AAAA"}}`,
		`not json`,
	} {
		if _, err := nodeID([]byte(bad)); err == nil {
			t.Errorf("nodeID(%s) succeeded", bad)
		}
	}
}

var statusCases = []struct {
	name string
	body string
	want status
	ok   bool
}{
	{
		name: "v0.38 answer",
		body: `{"jsonrpc":"2.0","id":-1,"result":{"node_info":{"id":"9af5b657cbef35e0d5f3dd15de3526061179d340","network":"tally-local","version":"0.38.19"},"sync_info":{"latest_block_height":"42","catching_up":false}}}`,
		want: status{NodeID: "9af5b657cbef35e0d5f3dd15de3526061179d340", Network: "tally-local", Height: 42},
		ok:   true,
	},
	{
		name: "height 0",
		body: `{"result":{"sync_info":{"latest_block_height":"0"}}}`,
		ok:   true,
	},
	{name: "rpc error", body: `{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"x"}}`},
	{name: "no result", body: `{"jsonrpc":"2.0","id":-1}`},
	{name: "bad height", body: `{"result":{"sync_info":{"latest_block_height":"x"}}}`},
	{name: "negative height", body: `{"result":{"sync_info":{"latest_block_height":"-1"}}}`},
	{name: "numeric height", body: `{"result":{"sync_info":{"latest_block_height":7}}}`},
	{name: "not json", body: `<html>`},
}

func TestParseStatus(t *testing.T) {
	for _, tt := range statusCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, tt := range statusCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := parseStatus(body)
		if err == nil && st.Height < 0 {
			t.Fatalf("negative height %d", st.Height)
		}
	})
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"0.38.19\n":         "0.38.19",
		"0.38.19+abc123\n":  "0.38.19",
		"0.38.19-dev\n":     "0.38.19-dev",
		"  0.37.2 \nmore\n": "0.37.2",
		"":                  "",
	} {
		if got := parseVersion(in); got != want {
			t.Errorf("parseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
