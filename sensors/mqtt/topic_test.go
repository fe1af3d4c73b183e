package mqtt

import (
	"reflect"
	"testing"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		caps          []string // nil: no match
	}{
		{"reefer/+/temp", "reefer/7/temp", []string{"7"}},
		{"reefer/+/temp", "reefer/7/temp/x", nil},
		{"reefer/+/temp", "reefer/7", nil},
		{"reefer/+/temp", "reefer//temp", []string{""}},
		{"reefer/+/temp", "Reefer/7/temp", nil},
		{"site/+/+/gps", "site/rtm/a12/gps", []string{"rtm", "a12"}},
		{"a/#", "a", []string{}},
		{"a/#", "a/b/c", []string{}},
		{"a/#", "b", nil},
		{"#", "anything/at/all", []string{}},
		{"#", "$SYS/broker/uptime", nil},
		{"+/x", "$SYS/x", nil},
		{"$SYS/#", "$SYS/broker", []string{}},
		{"+", "a", []string{"a"}},
		{"+", "a/b", nil},
		{"a/+", "a/", []string{""}},
		{"/+", "/x", []string{"x"}},
		{"a/b", "a/b", []string{}},
		{"a/b", "a/bc", nil},
	}
	for _, tc := range tests {
		levels, err := parseFilter(tc.filter)
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		caps, ok := matchTopic(levels, tc.topic, []string{})
		if ok != (tc.caps != nil) || ok && !reflect.DeepEqual(caps, tc.caps) {
			t.Errorf("match(%q, %q) = %q, %v; want %q", tc.filter, tc.topic, caps, ok, tc.caps)
		}
	}
}

func TestFiltersOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"reefer/+/temp", "reefer/#", true},
		{"reefer/+/temp", "reefer/+/humidity", false},
		{"reefer/+/temp", "reefer/7/temp", true},
		{"a/#", "a", true},
		{"a/+", "a", false},
		{"a/b", "a/b/c", false},
		{"#", "x/y", true},
		{"#", "$SYS/#", false},
		{"+/+", "a/b", true},
		{"+/+", "a/b/c", false},
	}
	for _, tc := range tests {
		a, _ := parseFilter(tc.a)
		b, _ := parseFilter(tc.b)
		if got := filtersOverlap(a, b); got != tc.want || filtersOverlap(b, a) != tc.want {
			t.Errorf("overlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		tpl  string
		plus int
		caps []string
		want string
	}{
		{"reefer-{1}", 1, []string{"7"}, "reefer-7"},
		{"{2}.{1}", 2, []string{"rtm", "a12"}, "a12.rtm"},
		{"gps", 1, []string{"x"}, "gps"},
		{"{1}{1}", 1, []string{"ab"}, "abab"},
	}
	for _, tc := range tests {
		tp, err := parseTemplate(tc.tpl, tc.plus)
		if err != nil {
			t.Fatalf("%q: %v", tc.tpl, err)
		}
		if got := tp.expand(tc.caps); got != tc.want {
			t.Errorf("%q with %q = %q, want %q", tc.tpl, tc.caps, got, tc.want)
		}
	}
	for _, id := range []string{"a", "reefer-7", "A.b_c-9", "0"} {
		if !validSensorID(id) {
			t.Errorf("%q not valid", id)
		}
	}
	for _, id := range []string{"", "-a", "a b", "a/b", "é", "a:b", string(make([]byte, 65))} {
		if validSensorID(id) {
			t.Errorf("%q valid", id)
		}
	}
}
