package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// errNoFilter is the error for an empty filter.
var errNoFilter = errors.New("missing (an MQTT topic filter such as reefer/+/temp)")

// maxFilterLen bounds a topic filter (MQTT allows 65535 bytes).
const maxFilterLen = 1024

// parseFilter checks an MQTT topic filter and returns its levels.
func parseFilter(f string) ([]string, error) {
	switch {
	case f == "":
		return nil, errNoFilter
	case len(f) > maxFilterLen:
		return nil, fmt.Errorf("%d bytes is longer than %d", len(f), maxFilterLen)
	case !utf8.ValidString(f) || strings.ContainsRune(f, 0):
		return nil, fmt.Errorf("%q is not valid UTF-8 text", f)
	case strings.HasPrefix(f, "$share/") || strings.HasPrefix(f, "$queue/"):
		return nil, fmt.Errorf("%q is a shared subscription: a gateway subscribes alone, so that it records every message", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return nil, fmt.Errorf("%q: '#' must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return nil, fmt.Errorf("%q: '+' and '#' must stand alone in a level (as in reefer/+/temp)", f)
		}
	}
	return levels, nil
}

// countPlus is the number of '+' levels in a filter.
func countPlus(levels []string) int {
	n := 0
	for _, l := range levels {
		if l == "+" {
			n++
		}
	}
	return n
}

// wild reports whether a filter level is a wildcard.
func wild(l string) bool { return l == "+" || l == "#" }

// filtersOverlap reports whether some topic matches both filters.
func filtersOverlap(a, b []string) bool {
	// Wildcards in the first level do not match topics starting with '$'.
	if len(a) > 0 && len(b) > 0 &&
		(wild(a[0]) && strings.HasPrefix(b[0], "$") || wild(b[0]) && strings.HasPrefix(a[0], "$")) {
		return false
	}
	for i := 0; ; i++ {
		switch {
		case i == len(a) && i == len(b):
			return true
		case i == len(a):
			return b[i] == "#" // "a/#" matches "a"
		case i == len(b):
			return a[i] == "#"
		case a[i] == "#" || b[i] == "#":
			return true
		case a[i] == "+" || b[i] == "+" || a[i] == b[i]:
			continue
		default:
			return false
		}
	}
}

// matchTopic matches a topic name against filter levels and appends the
// levels matched by '+' to caps.
func matchTopic(filter []string, topic string, caps []string) ([]string, bool) {
	if len(filter) > 0 && wild(filter[0]) && strings.HasPrefix(topic, "$") {
		return nil, false
	}
	rest, done := topic, false
	for _, f := range filter {
		if f == "#" {
			return caps, true // also matches the parent level: "a/#" matches "a"
		}
		if done {
			return nil, false // the topic has fewer levels than the filter
		}
		var level string
		var more bool
		level, rest, more = strings.Cut(rest, "/")
		done = !more
		switch {
		case f == "+":
			caps = append(caps, level)
		case f != level:
			return nil, false
		}
	}
	return caps, done // false: the topic has more levels than the filter
}

// template is a sensor id template: literal text and {N} references to the
// levels matched by '+'.
type template struct {
	parts []tplPart
}

type tplPart struct {
	lit string
	ref int // 1-based '+' index; 0 for a literal part
}

// maxSensorLen bounds a sensor id (as the daemon's config does).
const maxSensorLen = 64

// parseTemplate parses a sensor template for a filter with plus '+' levels.
func parseTemplate(s string, plus int) (template, error) {
	var t template
	if s == "" {
		if plus > 0 {
			return t, fmt.Errorf("missing (a sensor id, or a template such as sensor-{1} where {1} is the level the first '+' matched)")
		}
		return t, fmt.Errorf("missing (the sensor id of these readings)")
	}
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		if rest[i] == '}' {
			return t, fmt.Errorf("%q: '}' without '{'", s)
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return t, fmt.Errorf("%q: '{' without '}'", s)
		}
		n, err := strconv.Atoi(rest[i+1 : i+end])
		switch {
		case err != nil || n < 1:
			return t, fmt.Errorf("%q: %s is not {1}, {2}, … (the level matched by the first, second, … '+')", s, rest[i:i+end+1])
		case n > plus:
			return t, fmt.Errorf("%q: {%d} refers to '+' number %d, but the filter has %d", s, n, n, plus)
		}
		t.parts = append(t.parts, tplPart{ref: n})
		rest = rest[i+end+1:]
	}
	// The literal text must fit a sensor id: expand with a stand-in for
	// every reference.
	caps := make([]string, plus)
	for i := range caps {
		caps[i] = "x"
	}
	if id := t.expand(caps); !validSensorID(id) {
		return t, fmt.Errorf("%q does not make a valid sensor id: use letters, digits, '.', '_' or '-', starting with a letter or digit, at most %d characters", s, maxSensorLen)
	}
	return t, nil
}

// expand returns the sensor id for the captured levels.
func (t template) expand(caps []string) string {
	if len(t.parts) == 1 && t.parts[0].ref == 0 {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == 0 {
			b.WriteString(p.lit)
		} else {
			b.WriteString(caps[p.ref-1])
		}
	}
	return b.String()
}

// validSensorID reports whether id is 1–64 letters, digits, '.', '_' or
// '-', starting with a letter or digit: the daemon's rule for sensor ids.
func validSensorID(id string) bool {
	if len(id) == 0 || len(id) > maxSensorLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}
