package modbus

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// crcTable is an independent, table-driven CRC-16/MODBUS to check CRC16
// against.
func crcTable(data []byte) uint16 {
	var table [256]uint16
	for i := range table {
		c := uint16(i)
		for range 8 {
			if c&1 == 1 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		table[i] = c
	}
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc = crc>>8 ^ table[byte(crc)^b]
	}
	return crc
}

func FuzzCRC16(f *testing.F) {
	f.Add([]byte("123456789"))
	f.Add([]byte{})
	for _, v := range requestVectors {
		f.Add(unhex(f, v.frame))
	}
	for _, v := range responseVectors {
		f.Add(unhex(f, v.frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		crc := CRC16(data)
		if want := crcTable(data); crc != want {
			t.Fatalf("CRC16(% X) = 0x%04X, table says 0x%04X", data, crc, want)
		}
		// A frame with its CRC appended low byte first leaves residue 0.
		if r := CRC16(AppendCRC(bytes.Clone(data))); r != 0 {
			t.Fatalf("CRC16 of % X with its CRC appended = 0x%04X, want 0", data, r)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, v := range responseVectors {
		f.Add(unhex(f, v.frame), v.req.Slave, v.req.Function, v.req.Start, v.req.Count)
	}
	f.Add([]byte{}, byte(1), byte(3), uint16(0), uint16(0))
	f.Add(unhex(f, "01 03 04 00 FA"), byte(1), byte(3), uint16(0), uint16(2))
	f.Fuzz(func(t *testing.T, frame []byte, slave, function byte, start, count uint16) {
		req := Request{Slave: slave, Function: function, Start: start, Count: count}
		in := bytes.Clone(frame)
		values, err := ParseResponse(frame, req)
		if !bytes.Equal(in, frame) {
			t.Fatal("ParseResponse modified its input")
		}
		var ex *ExceptionError
		switch {
		case err == nil:
			if len(values) != int(count) {
				t.Fatalf("%d values for a request of %d", len(values), count)
			}
			// A frame that parses is exactly the frame a slave would send.
			if again, err := EncodeResponse(slave, function, values); err == nil && !bytes.Equal(again, frame) {
				t.Fatalf("parsed % X, re-encoded % X", frame, again)
			}
		case errors.As(err, &ex):
			if len(frame) != 5 || ex.Slave != slave || ex.Function != function || byte(ex.Code) != frame[2] {
				t.Fatalf("exception %+v from frame % X", *ex, frame)
			}
			if ex.Error() == "" {
				t.Fatal("empty exception message")
			}
		case !errors.Is(err, ErrBadFrame):
			t.Fatalf("error %v is neither an exception nor ErrBadFrame", err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, v := range requestVectors {
		f.Add(unhex(f, v.frame))
	}
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if req.Validate() != nil {
			return
		}
		again, err := req.Encode()
		if err != nil || !bytes.Equal(again, frame) {
			t.Fatalf("parsed % X as %v, re-encoded % X, %v", frame, req, again, err)
		}
	})
}

func FuzzPointValue(f *testing.F) {
	f.Add(uint16(0xFF38), uint16(0), 1, true, 0.1)
	f.Add(uint16(0xFFFF), uint16(0xF830), 2, true, 0.01)
	f.Add(uint16(0x0001), uint16(0x0000), 2, false, 0.0)
	f.Add(uint16(1), uint16(2), 3, false, math.Inf(1))
	f.Fuzz(func(t *testing.T, w0, w1 uint16, words int, signed bool, scale float64) {
		p := Point{Field: FieldCelsius, Function: 3, Register: 10, Words: words, Signed: signed, Scale: scale}
		regs := map[Address]uint16{{3, 10}: w0, {3, 11}: w1}
		data, err := Data([]Point{p}, regs)
		if p.Validate() != nil {
			return // Data may refuse an invalid point, but must not panic
		}
		if err != nil {
			t.Fatalf("Data(%+v) = %v", p, err)
		}
		v := data[FieldCelsius].(float64)
		if math.IsNaN(v) {
			t.Fatalf("Value = NaN for %+v", p)
		}
	})
}
