package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/configs"
	"github.com/tallygw/tally/edge/config"
)

func TestShippedConfigsLoad(t *testing.T) {
	for name, raw := range map[string][]byte{"demo.yaml": configs.Demo, "tally.yaml": configs.Example} {
		t.Run(name, func(t *testing.T) {
			c, err := config.Parse(name, raw, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if c.Gateway.ID == "" || len(c.Sensors) == 0 {
				t.Fatalf("%s: no gateway id or no sensors", name)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte("gateway:\n  id: gw-1\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/tally" || c.Checkpoint.Interval.D() != time.Minute || c.HTTP.Listen != "127.0.0.1:8480" || c.Store.MaxBatch != 2048 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	c, err = config.Parse("min.yaml", []byte("gateway:\n  id: gw-1\n"), "/srv/gw1")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/gw1" || c.Path(c.Keys.Ed25519) != "/srv/gw1/ed25519.key" {
		t.Fatalf("--data not applied: %s %s", c.DataDir, c.Path(c.Keys.Ed25519))
	}
}

func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		key        string
		msg        string
	}{
		{"unknown top key", "gateway:\n  id: gw-1\ncheckpoints:\n  interval: 1m\n", 3, "checkpoints", "unknown key; allowed here: anchor, broker, checkpoint, conditions, data_dir"},
		{"anchor backend", "gateway:\n  id: gw-1\nanchor:\n  backend: bitcoin\n", 4, "anchor.backend", `"bitcoin" is not one of none, cometbft, evm`},
		{"anchor rpc", "gateway:\n  id: gw-1\nanchor:\n  backend: cometbft\n  cometbft:\n    rpc: 127.0.0.1:26657\n", 6, "anchor.cometbft.rpc", "is not an http(s)://host:port URL"},
		{"anchor evm chain id", "gateway:\n  id: gw-1\nanchor:\n  backend: evm\n  evm:\n    rpc: http://127.0.0.1:8545\n", 5, "anchor.evm.chain_id", "is required"},
		{"anchor tx format", "gateway:\n  id: gw-1\nanchor:\n  tx_format: \"{origin}\"\n", 4, "anchor.tx_format", "must contain {size}"},
		{"anchor gas price", "gateway:\n  id: gw-1\nanchor:\n  backend: evm\n  evm:\n    rpc: http://x:8545\n    chain_id: 5\n    gas_price: cheap\n", 8, "anchor.evm.gas_price", "is not auto or a whole number"},
		{"unknown nested key", "gateway:\n  id: gw-1\ncheckpoint:\n  intervall: 1m\n", 4, "checkpoint.intervall", "allowed here: interval, max_readings"},
		{"unknown sensor key", "gateway:\n  id: gw-1\nsensors:\n  - id: s1\n    driver: sim\n    baud: 9600\n", 6, "sensors[0].baud", "unknown key"},
		{"wrong type int", "gateway:\n  id: gw-1\ncheckpoint:\n  max_readings: lots\n", 4, "checkpoint.max_readings", `"lots" is not a whole number`},
		{"wrong type duration", "gateway:\n  id: gw-1\ncheckpoint:\n  interval: soon\n", 4, "checkpoint.interval", `"soon" is not a duration`},
		{"scalar for mapping", "gateway: gw-1\n", 1, "gateway", "must be a mapping of keys"},
		{"missing gateway id", "checkpoint:\n  interval: 1m\n", 0, "gateway.id", "is required"},
		{"bad gateway id", "gateway:\n  id: my gateway\n", 2, "gateway.id", "is not allowed"},
		{"unknown driver", "gateway:\n  id: gw-1\nsensors:\n  - id: s1\n    driver: telepathy\n", 5, "sensors[0].driver", `"telepathy" is not a known driver`},
		{"duplicate sensor", "gateway:\n  id: gw-1\nsensors:\n  - id: s1\n    driver: sim\n  - id: s1\n    driver: sim\n", 6, "sensors[1].id", "used by two sensors"},
		{"bad listen", "gateway:\n  id: gw-1\nhttp:\n  listen: everywhere\n", 4, "http.listen", "not host:port"},
		{"not yaml", "gateway: [\n", 0, "", "not valid YAML"},
		{"empty", "", 0, "", "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(tc.yaml), "")
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, not *config.Error", err, err)
			}
			if ce.File != "gw.yaml" || (tc.line != 0 && ce.Line != tc.line) || ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) {
				t.Fatalf("got %q (line %d key %q), want line %d key %q containing %q", err, ce.Line, ce.Key, tc.line, tc.key, tc.msg)
			}
		})
	}
}
