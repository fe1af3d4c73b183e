package bundle_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
)

// build returns a verified bundle for seq from a real gateway of n readings.
func build(t *testing.T, n, seq int) (*bundle.Bundle, bundle.PublicKeys) {
	g := testgw.New(t, ingest.Config{})
	ctx := context.Background()
	for i := range n {
		if err := g.Pipeline.Accept(ctx, sensors.Reading{Sensor: "gps-1", Kind: sensors.KindGPS, Data: map[string]any{"lat": 31.2 + float64(i)/1000, "lon": 121.5}}); err != nil {
			t.Fatal(err)
		}
	}
	g.Stop(t)
	st := g.OpenStore(t)
	cp, err := st.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := st.Envelope(ctx, int64(seq))
	proof, err := st.InclusionProof(ctx, int64(seq), cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := bundle.NewPublicKeys(g.Pub)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{Format: bundle.Format, Origin: g.Pub.Origin, Seq: int64(seq), Envelope: env, TreeSize: cp.Size,
		Checkpoint: string(cp.Note), Keys: pk}
	for _, h := range proof {
		b.Inclusion = append(b.Inclusion, append([]byte(nil), h[:]...))
	}
	return b, pk
}

func TestVerify(t *testing.T) {
	for _, seq := range []int{0, 6, 12} {
		b, pk := build(t, 13, seq)
		steps, err := bundle.Verify(b, bundle.Options{Pinned: &pk})
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if len(steps) != 8 {
			t.Fatalf("%d steps", len(steps))
		}
		// Round trip through JSON, as auditors receive it.
		data, _ := json.Marshal(b)
		b2, err := bundle.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Verify(b2, bundle.Options{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyNamesFailingStep(t *testing.T) {
	_, otherKeys := build(t, 2, 0)
	cases := map[string]struct {
		edit func(*bundle.Bundle)
		pin  bool
		step string
	}{
		"format":                {func(b *bundle.Bundle) { b.Format = "x" }, false, "format"},
		"wrong pinned keys":     {func(b *bundle.Bundle) {}, true, "keys"},
		"envelope byte":         {func(b *bundle.Bundle) { b.Envelope[40] ^= 1 }, false, "reading signature"},
		"seq":                   {func(b *bundle.Bundle) { b.Seq = 4 }, false, "reading payload"},
		"checkpoint edited":     {func(b *bundle.Bundle) { b.Checkpoint = "x" + b.Checkpoint }, false, "checkpoint signatures"},
		"tree size":             {func(b *bundle.Bundle) { b.TreeSize++ }, false, "checkpoint signatures"},
		"proof hash":            {func(b *bundle.Bundle) { b.Inclusion[0][0] ^= 1 }, false, "inclusion"},
		"proof truncated":       {func(b *bundle.Bundle) { b.Inclusion = b.Inclusion[1:] }, false, "inclusion"},
		"anchor in a v1 bundle": {func(b *bundle.Bundle) { b.Anchor = &bundle.Anchor{Checkpoint: "x"} }, false, "format"},
		"v2 without anchor":     {func(b *bundle.Bundle) { b.Format = bundle.FormatAnchored }, false, "format"},
		"anchor unsigned": {func(b *bundle.Bundle) {
			b.Format, b.Anchor = bundle.FormatAnchored, &bundle.Anchor{Checkpoint: "x"}
		}, false, "anchored checkpoint"},
		"anchor unknown kind": {func(b *bundle.Bundle) {
			b.Format, b.Anchor = bundle.FormatAnchored, &bundle.Anchor{Checkpoint: b.Checkpoint, Receipt: ledger.Receipt{Ledger: "x"}}
		}, false, "ledger"},
		"short proof element": {func(b *bundle.Bundle) { b.Inclusion[0] = b.Inclusion[0][:5] }, false, "inclusion"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, _ := build(t, 9, 3)
			tc.edit(b)
			var opts bundle.Options
			if tc.pin {
				opts.Pinned = &otherKeys
			}
			steps, err := bundle.Verify(b, opts)
			var se *bundle.StepError
			if !errors.As(err, &se) || se.Step != tc.step {
				t.Fatalf("got %v, want failure at %q", err, tc.step)
			}
			if last := steps[len(steps)-1]; last.OK || last.Name != tc.step {
				t.Fatalf("last step %+v", last)
			}
		})
	}
}

func FuzzDecodeVerify(f *testing.F) {
	f.Add([]byte(`{"format":"tally-proof-bundle/1","origin":"tally/x","seq":0,"envelope":"","tree_size":1,"inclusion_proof":[],"checkpoint":"","keys":{"ed25519":"","mldsa65":"","note_key":""},"anchor":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Decode(data)
		if err != nil {
			return
		}
		bundle.Verify(b, bundle.Options{})
	})
}

// TestDecodeExactMembers: member names are exact and every member is
// required, in the receipt too (FORMATS.md §5), though encoding/json alone
// would match names ignoring case and leave missing members zero.
func TestDecodeExactMembers(t *testing.T) {
	receipt := `{"ledger":"evm","network":"1337","tx_id":"0x00","height":3,"block_hash":"0x00","block_time":"2026-11-21T09:00:00Z","tx_format":"{size}={root_hex}","payload":"","evidence":{}}`
	bundleWith := func(top, keys, rec string) string {
		return `{"format":"tally-proof-bundle/2","origin":"tally/x","seq":0,"envelope":"","tree_size":1,"inclusion_proof":[],"checkpoint":"",` +
			`"keys":` + keys + `,"anchor":{"checkpoint":"","consistency_proof":[],"receipt":` + rec + `}` + top + `}`
	}
	keys := `{"ed25519":"","mldsa65":"","note_key":""}`
	if _, err := bundle.Decode([]byte(bundleWith("", keys, receipt))); err != nil {
		t.Fatalf("the well-formed bundle: %v", err)
	}
	for _, tc := range []struct{ name, data, want string }{
		{"top-level name in capitals", bundleWith(`,"SEQ":5`, keys, receipt), `member "SEQ" is not "seq"`},
		{"receipt name in capitals", bundleWith("", keys, strings.Replace(receipt, `"height"`, `"Height"`, 1)), `receipt has no "height" member`},
		{"receipt name in capitals besides the exact one", bundleWith("", keys, strings.Replace(receipt, `"height":3`, `"height":3,"Height":4`, 1)), `member "Height" in anchor.receipt is not "height"`},
		{"receipt member missing", bundleWith("", keys, strings.Replace(receipt, `"tx_format":"{size}={root_hex}",`, "", 1)), `receipt has no "tx_format" member`},
		{"null", "null", "bundle is null"},
		{"keys member missing", bundleWith("", `{"ed25519":"","mldsa65":""}`, receipt), `keys has no "note_key" member`},
	} {
		_, err := bundle.Decode([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
