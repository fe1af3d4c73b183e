// Package jsonexact makes member names case-sensitive where documents are
// verified. encoding/json matches a member to a struct field ignoring case,
// so {"Height": 3} fills the field tagged "height": a document another
// verifier (exact names, as JSON is) reads as having no "height" member
// would pass here. Check refuses such a document before it is decoded
// (for layouts that reject unknown members); Strip removes those members
// (for layouts that ignore unknown members), so the decoding that follows
// sees only exact names.
package jsonexact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

var (
	rawType         = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// Check returns an error naming the first member of data whose name
// matches a field of v's type (a pointer to a struct, usually) only when
// case is ignored. Members of no field at all, and data that is not JSON
// or not of v's shape, are left to the decoding that follows.
func Check(data []byte, v any) error {
	doc, ok := parse(data)
	if !ok {
		return nil
	}
	return (&walker{}).walk(reflect.TypeOf(v), doc, "")
}

// Strip returns data without the members whose name matches a field of v's
// type only when case is ignored: to the decoding that follows they are
// unknown members, as they are to a verifier matching names exactly. Data
// with no such member is returned as it is.
func Strip(data []byte, v any) ([]byte, error) {
	doc, ok := parse(data)
	if !ok {
		return data, nil
	}
	w := &walker{strip: true}
	w.walk(reflect.TypeOf(v), doc, "")
	if !w.stripped {
		return data, nil
	}
	return json.Marshal(doc)
}

func parse(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	return doc, true
}

// walker checks a parsed document against a type; with strip it deletes
// the offending members instead of returning an error.
type walker struct {
	strip    bool
	stripped bool // a member was deleted
}

func (w *walker) walk(t reflect.Type, val any, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // decoded by its own rules
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			return nil
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = f.Type
		}
		for _, key := range sortedKeys(obj) {
			member := obj[key]
			if ft, ok := fields[key]; ok {
				if err := w.walk(ft, member, path+"."+key); err != nil {
					return err
				}
				continue
			}
			for name := range fields {
				if !strings.EqualFold(name, key) {
					continue
				}
				if !w.strip {
					return fmt.Errorf("member %q%s is not %q: member names are case-sensitive", key, at(path), name)
				}
				delete(obj, key)
				w.stripped = true
				break
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := val.([]any)
		if !ok {
			return nil
		}
		for i, elem := range arr {
			if err := w.walk(t.Elem(), elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := val.(map[string]any)
		if !ok {
			return nil
		}
		for _, key := range sortedKeys(obj) {
			if err := w.walk(t.Elem(), obj[key], path+"."+key); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedKeys makes the member reported first the same on every run.
func sortedKeys(obj map[string]any) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return " in " + strings.TrimPrefix(path, ".")
}
