package modbus

import (
	"fmt"
	"math"
	"slices"
)

// Reading.Data keys this package knows. Other field names are allowed and
// carried as float64.
const (
	FieldCelsius     = "celsius"
	FieldHumidityPct = "humidity_pct"
	FieldProbe       = "probe" // set by the Poller to the device name; not a Point field
)

// Point maps one value of a slave to one key of Reading.Data.
type Point struct {
	// Field is the Reading.Data key, e.g. "celsius" or "humidity_pct".
	Field string `yaml:"field"`
	// Function is 3 (holding registers) or 4 (input registers).
	Function byte `yaml:"function"`
	// Register is the protocol address (0-based) of the value's first word.
	Register uint16 `yaml:"register"`
	// Words is 1 for a 16-bit value or 2 for a 32-bit value whose high word
	// is at Register and low word at Register+1 (big-endian word order).
	// Zero means 1.
	Words int `yaml:"words"`
	// Signed reads the value as two's complement (int16 or int32).
	Signed bool `yaml:"signed"`
	// Scale multiplies the raw integer, e.g. 0.1 for a transmitter that
	// sends tenths of a degree. Zero means 1.
	Scale float64 `yaml:"scale"`
	// Unit is the unit of the scaled value. It is checked, not converted:
	// celsius must be in °C and humidity_pct in %RH.
	Unit string `yaml:"unit"`
}

// words returns the number of registers p spans.
func (p Point) words() int {
	if p.Words == 0 {
		return 1
	}
	return p.Words
}

// Validate reports whether p is a usable point.
func (p Point) Validate() error {
	switch {
	case p.Field == "":
		return fmt.Errorf("field: empty")
	case p.Field == FieldProbe:
		return fmt.Errorf("field: %q is reserved for the device name", p.Field)
	case p.Function != FuncReadHoldingRegisters && p.Function != FuncReadInputRegisters:
		return fmt.Errorf("function: %d, want 3 (holding registers) or 4 (input registers)", p.Function)
	case p.Words != 0 && p.Words != 1 && p.Words != 2:
		return fmt.Errorf("words: %d, want 1 or 2", p.Words)
	case int(p.Register)+p.words() > 0x10000:
		return fmt.Errorf("register: %d with %d words runs past 65535", p.Register, p.words())
	case math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0):
		return fmt.Errorf("scale: %v is not a finite number", p.Scale)
	}
	if !unitOK(p.Field, p.Unit) {
		return fmt.Errorf("unit: %q does not fit field %s (values are not converted; set the transmitter to %s)",
			p.Unit, p.Field, wantUnit(p.Field))
	}
	return nil
}

func unitOK(field, unit string) bool {
	switch field {
	case FieldCelsius:
		return slices.Contains([]string{"", "C", "°C", "degC", "celsius"}, unit)
	case FieldHumidityPct:
		return slices.Contains([]string{"", "%", "%RH", "pct", "percent"}, unit)
	}
	return true
}

func wantUnit(field string) string {
	if field == FieldCelsius {
		return "°C"
	}
	return "%RH"
}

// Value turns the registers of p (p.Words of them, first word first) into
// the scaled value.
func (p Point) Value(words []uint16) (float64, error) {
	if n := p.words(); n != 1 && n != 2 {
		return 0, fmt.Errorf("modbus: point %s: words %d, want 1 or 2", p.Field, n)
	}
	if len(words) != p.words() {
		return 0, fmt.Errorf("modbus: point %s: %d registers, want %d", p.Field, len(words), p.words())
	}
	var raw float64
	switch {
	case len(words) == 1 && p.Signed:
		raw = float64(int16(words[0]))
	case len(words) == 1:
		raw = float64(words[0])
	case p.Signed:
		raw = float64(int32(uint32(words[0])<<16 | uint32(words[1])))
	default:
		raw = float64(uint32(words[0])<<16 | uint32(words[1]))
	}
	return scale(raw, p.Scale), nil
}

// scale multiplies raw by s. When s is the reciprocal of an integer (0.1,
// 0.01, 0.5) it divides instead, so that 253 × 0.1 gives 25.3 and not
// 25.300000000000004.
func scale(raw, s float64) float64 {
	if s == 0 || s == 1 {
		return raw
	}
	inv := 1 / s
	if r := math.Round(inv); r != 0 && math.Abs(r) < 1<<53 && math.Abs(inv-r) <= 1e-9*math.Abs(r) {
		return raw / r
	}
	return raw * s
}

// Address names one register of a slave.
type Address struct {
	Function byte
	Register uint16
}

// Data turns register values into Reading.Data: one float64 per point,
// under its Field. regs holds the values read from one slave.
func Data(points []Point, regs map[Address]uint16) (map[string]any, error) {
	data := make(map[string]any, len(points)+1)
	var words [2]uint16
	for _, p := range points {
		n := p.words()
		if n < 1 || n > len(words) {
			return nil, fmt.Errorf("modbus: point %s: words %d, want 1 or 2", p.Field, p.Words)
		}
		for i := range n {
			a := Address{Function: p.Function, Register: p.Register + uint16(i)}
			v, ok := regs[a]
			if !ok {
				return nil, fmt.Errorf("modbus: point %s: register %d (function %d) was not read", p.Field, a.Register, a.Function)
			}
			words[i] = v
		}
		v, err := p.Value(words[:n])
		if err != nil {
			return nil, err
		}
		data[p.Field] = v
	}
	return data, nil
}

// plan groups points into as few read requests as it can without reading
// a register no point names (an unmapped register may draw an exception).
func plan(slave byte, points []Point) []Request {
	type span struct {
		fn         byte
		start, end int // end exclusive
	}
	spans := make([]span, 0, len(points))
	for _, p := range points {
		spans = append(spans, span{p.Function, int(p.Register), int(p.Register) + p.words()})
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.fn != b.fn {
			return int(a.fn) - int(b.fn)
		}
		return a.start - b.start
	})
	var reqs []Request
	for i := 0; i < len(spans); {
		cur := spans[i]
		i++
		for i < len(spans) && spans[i].fn == cur.fn && spans[i].start <= cur.end &&
			max(cur.end, spans[i].end)-cur.start <= MaxRegisters {
			cur.end = max(cur.end, spans[i].end)
			i++
		}
		reqs = append(reqs, Request{Slave: slave, Function: cur.fn, Start: uint16(cur.start), Count: uint16(cur.end - cur.start)})
	}
	return reqs
}
