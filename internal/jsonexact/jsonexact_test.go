package jsonexact

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Height int64           `json:"height"`
	When   time.Time       `json:"block_time"`
	Raw    json.RawMessage `json:"evidence"`
}

type doc struct {
	Seq     int64            `json:"seq"`
	Bytes   []byte           `json:"envelope"`
	Inner   *inner           `json:"receipt"`
	List    []inner          `json:"list"`
	ByName  map[string]inner `json:"by_name"`
	Skipped string           `json:"-"`
	Plain   string
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string // want: "" = accepted, else a part of the error
	}{
		{"exact", `{"seq":1,"envelope":"AA==","receipt":{"height":3,"evidence":{"Anything":1}},"list":[{"height":1}],"by_name":{"a":{"height":2}},"Plain":"x"}`, ""},
		{"unknown members are left to the decoder", `{"sequence":1,"receipt":{"tx":2}}`, ""},
		{"not JSON", `{"seq":`, ""},
		{"wrong shape", `{"receipt":[1,2],"list":{"height":1}}`, ""},
		{"top level", `{"SEQ":1}`, `member "SEQ" is not "seq"`},
		{"both spellings", `{"seq":1,"Seq":2}`, `member "Seq" is not "seq"`},
		{"nested", `{"receipt":{"Height":3}}`, `member "Height" in receipt is not "height"`},
		{"in a list", `{"list":[{"height":1},{"HEIGHT":1}]}`, `in list[1]`},
		{"in a map", `{"by_name":{"x":{"Block_Time":"2026-01-01T00:00:00Z"}}}`, `in by_name.x is not "block_time"`},
		{"untagged field", `{"plain":"x"}`, `member "plain" is not "Plain"`},
	} {
		err := Check([]byte(tc.data), &doc{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzCheck: Check never panics, and a document it accepts that decodes
// has its members where exact names put them.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"seq":1,"receipt":{"height":3},"list":[{"height":1}]}`))
	f.Add([]byte(`{"Seq":1}`))
	f.Add([]byte(`[[[{"receipt":null}]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data, &doc{}) != nil {
			return
		}
		var d doc
		if json.Unmarshal(data, &d) != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		if _, ok := m["seq"]; !ok && d.Seq != 0 {
			t.Fatalf("seq %d decoded from a document without an exact \"seq\" member: %s", d.Seq, data)
		}
	})
}

func TestStrip(t *testing.T) {
	same := []byte(`{"seq":1,"receipt":{"height":3}}`)
	if out, err := Strip(same, &doc{}); err != nil || string(out) != string(same) {
		t.Fatalf("Strip of an exact document = %s, %v", out, err)
	}
	out, err := Strip([]byte(`{"seq":1,"SEQ":2,"receipt":{"Height":3,"height":4},"list":[{"HEIGHT":5}]}`), &doc{})
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.Seq != 1 || d.Inner.Height != 4 || len(d.List) != 1 || d.List[0].Height != 0 {
		t.Fatalf("after Strip: %s decodes to %+v", out, d)
	}
}
