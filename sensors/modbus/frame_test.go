package modbus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex decodes "01 03 00 00" style hex, as vectors.md writes frames.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// The CRC-16/MODBUS vectors of /work/shared/testdata/vectors.md, verbatim.
func TestCRC16Check(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x4B37 {
		t.Errorf("CRC16(\"123456789\") = 0x%04X, want 0x4B37", got)
	}
	if got := CRC16(nil); got != 0xFFFF {
		t.Errorf("CRC16(nil) = 0x%04X, want the initial value 0xFFFF", got)
	}
}

var requestVectors = []struct {
	frame string
	req   Request
	what  string
}{
	{"01 03 00 00 00 02 C4 0B", Request{Slave: 1, Function: 3, Start: 0, Count: 2}, "read 2 holding registers at 0 from slave 1"},
	{"11 03 00 6B 00 03 76 87", Request{Slave: 0x11, Function: 3, Start: 0x6B, Count: 3}, "Modbus specification example"},
	{"01 03 00 6B 00 03 74 17", Request{Slave: 1, Function: 3, Start: 0x6B, Count: 3}, "same request to slave 1"},
	{"01 04 00 01 00 02 20 0B", Request{Slave: 1, Function: 4, Start: 1, Count: 2}, "read input registers 1..2"},
}

func TestRequestVectors(t *testing.T) {
	for _, tc := range requestVectors {
		t.Run(tc.what, func(t *testing.T) {
			want := unhex(t, tc.frame)
			if got := CRC16(want[:len(want)-2]); byte(got) != want[len(want)-2] || byte(got>>8) != want[len(want)-1] {
				t.Errorf("CRC16 = 0x%04X, frame ends % X (low byte first)", got, want[len(want)-2:])
			}
			got, err := tc.req.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode = % X, want % X", got, want)
			}
			back, err := ParseRequest(want)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if back != tc.req {
				t.Errorf("ParseRequest = %+v, want %+v", back, tc.req)
			}
		})
	}
}

var responseVectors = []struct {
	frame  string
	req    Request
	values []uint16
	code   ExceptionCode // non-zero: an exception response
	what   string
}{
	{"01 03 04 00 FA 01 2C DA 4F", Request{Slave: 1, Function: 3, Count: 2}, []uint16{250, 300}, 0, "registers 0x00FA, 0x012C"},
	{"01 03 02 FF 38 F8 66", Request{Slave: 1, Function: 3, Count: 1}, []uint16{0xFF38}, 0, "one register 0xFF38"},
	{"01 83 02 C0 F1", Request{Slave: 1, Function: 3, Count: 1}, nil, ExceptionIllegalDataAddress, "exception: illegal data address"},
}

func TestResponseVectors(t *testing.T) {
	for _, tc := range responseVectors {
		t.Run(tc.what, func(t *testing.T) {
			frame := unhex(t, tc.frame)
			values, err := ParseResponse(frame, tc.req)
			if tc.code != 0 {
				var ex *ExceptionError
				if !errors.As(err, &ex) {
					t.Fatalf("ParseResponse error = %v, want *ExceptionError", err)
				}
				if *ex != (ExceptionError{Slave: 1, Function: 3, Code: tc.code}) {
					t.Errorf("ExceptionError = %+v", *ex)
				}
				if !strings.Contains(err.Error(), "illegal data address") {
					t.Errorf("message %q does not give the meaning", err)
				}
				if errors.Is(err, ErrBadFrame) {
					t.Errorf("an exception is a valid frame, not ErrBadFrame")
				}
				if got := EncodeException(tc.req.Slave, tc.req.Function, tc.code); !bytes.Equal(got, frame) {
					t.Errorf("EncodeException = % X, want % X", got, frame)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if !equalValues(values, tc.values) {
				t.Errorf("values = %v, want %v", values, tc.values)
			}
			got, err := EncodeResponse(tc.req.Slave, tc.req.Function, tc.values)
			if err != nil || !bytes.Equal(got, frame) {
				t.Errorf("EncodeResponse = % X, %v; want % X", got, err, frame)
			}
		})
	}
}

// The vector's "-20.0 °C at ×10 scaling".
func TestVectorNegativeTemperature(t *testing.T) {
	values, err := ParseResponse(unhex(t, "01 03 02 FF 38 F8 66"), Request{Slave: 1, Function: 3, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := Point{Field: FieldCelsius, Function: 3, Signed: true, Scale: 0.1}
	if v, err := p.Value(values); err != nil || v != -20.0 {
		t.Errorf("Value = %v, %v; want -20", v, err)
	}
}

func equalValues(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// withCRC returns body with its CRC appended: a frame whose CRC is right
// but whose content is wrong.
func withCRC(t *testing.T, body string) []byte {
	return AppendCRC(unhex(t, body))
}

func TestParseResponseErrors(t *testing.T) {
	good := unhex(t, "01 03 04 00 FA 01 2C DA 4F")
	req := Request{Slave: 1, Function: 3, Count: 2}
	flipped := bytes.Clone(good)
	flipped[4] ^= 0x01
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 0xFF

	tests := []struct {
		name  string
		frame []byte
		req   Request
		want  error
		text  string
	}{
		{"nil", nil, req, ErrShortFrame, "0 bytes"},
		{"three bytes", good[:3], req, ErrShortFrame, "3 bytes"},
		{"cut off", good[:7], req, ErrShortFrame, "header implies 9"},
		{"bit flipped", flipped, req, ErrCRC, "crc mismatch"},
		{"crc bytes wrong", badCRC, req, ErrCRC, "frame says 0xB0DA, computed 0x4FDA"},
		{"wrong slave", withCRC(t, "02 03 04 00 FA 01 2C"), req, ErrWrongSlave, "from slave 2, request was to slave 1"},
		{"wrong function", withCRC(t, "01 04 04 00 FA 01 2C"), req, ErrWrongFunction, "function 0x04"},
		{"exception for another function", withCRC(t, "01 84 02"), req, ErrWrongFunction, "0x84"},
		{"byte count disagrees with request", unhex(t, "01 03 02 FF 38 F8 66"), req, ErrByteCount, "byte count 2, requested 2 registers"},
		{"byte count larger than frame", withCRC(t, "01 03 04 00 FA"), req, ErrShortFrame, "header implies 9"},
		{"trailing bytes", withCRC(t, "01 03 04 00 FA 01 2C 00"), req, ErrByteCount, "10 bytes, its header implies 9"},
		{"long exception", withCRC(t, "01 83 02 00"), req, ErrByteCount, "exception response of 6 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values, err := ParseResponse(tc.frame, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseResponse(% X) = %v, %v; want %v", tc.frame, values, err, tc.want)
			}
			if !errors.Is(err, ErrBadFrame) {
				t.Errorf("error %v does not wrap ErrBadFrame", err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
			if values != nil {
				t.Errorf("values = %v on error", values)
			}
		})
	}
}

func TestExceptionMeanings(t *testing.T) {
	tests := []struct {
		code    ExceptionCode
		meaning string
	}{
		{0x01, "illegal function"},
		{0x02, "illegal data address"},
		{0x03, "illegal data value"},
		{0x04, "server device failure"},
		{0x05, "acknowledge"},
		{0x06, "server busy"},
		{0x08, "memory parity error"},
		{0x0A, "gateway path unavailable"},
		{0x0B, "gateway target device failed to respond"},
		{0x07, "unknown exception code"},
		{0xFF, "unknown exception code"},
	}
	for _, tc := range tests {
		t.Run(tc.meaning, func(t *testing.T) {
			frame := EncodeException(9, FuncReadInputRegisters, tc.code)
			_, err := ParseResponse(frame, Request{Slave: 9, Function: FuncReadInputRegisters, Count: 1})
			var ex *ExceptionError
			if !errors.As(err, &ex) {
				t.Fatalf("ParseResponse(% X) = %v, want *ExceptionError", frame, err)
			}
			if ex.Code != tc.code || ex.Slave != 9 || ex.Function != FuncReadInputRegisters {
				t.Errorf("ExceptionError = %+v", *ex)
			}
			want := "modbus: slave 9 refused function 0x04: exception 0x" + strings.ToUpper(hex.EncodeToString([]byte{byte(tc.code)})) + " (" + tc.meaning + ")"
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		text string // "" when valid
	}{
		{"ok", Request{Slave: 1, Function: 3, Start: 0, Count: 1}, ""},
		{"highest slave, last register", Request{Slave: 247, Function: 4, Start: 65535, Count: 1}, ""},
		{"most registers", Request{Slave: 1, Function: 4, Start: 0, Count: 125}, ""},
		{"broadcast", Request{Slave: 0, Function: 3, Count: 1}, "slave address 0"},
		{"reserved slave", Request{Slave: 248, Function: 3, Count: 1}, "slave address 248"},
		{"write function", Request{Slave: 1, Function: 6, Count: 1}, "function 0x06"},
		{"no registers", Request{Slave: 1, Function: 3, Count: 0}, "register count 0"},
		{"too many registers", Request{Slave: 1, Function: 3, Count: 126}, "register count 126"},
		{"past the end", Request{Slave: 1, Function: 3, Start: 65535, Count: 2}, "past 65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := tc.req.Encode()
			if tc.text == "" {
				if err != nil || len(frame) != 8 {
					t.Fatalf("Encode = % X, %v", frame, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Encode error = %v, want one saying %q", err, tc.text)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	good := unhex(t, "01 03 00 00 00 02 C4 0B")
	bad := bytes.Clone(good)
	bad[5] = 3
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"short", good[:7], ErrShortFrame},
		{"long", append(bytes.Clone(good), 0), ErrByteCount},
		{"crc", bad, ErrCRC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRequest(tc.frame); !errors.Is(err, tc.want) {
				t.Errorf("ParseRequest(% X) error = %v, want %v", tc.frame, err, tc.want)
			}
		})
	}
}

func TestEncodeResponseLimits(t *testing.T) {
	if _, err := EncodeResponse(1, 3, nil); err == nil {
		t.Error("EncodeResponse with no values succeeded")
	}
	if _, err := EncodeResponse(1, 3, make([]uint16, MaxRegisters+1)); err == nil {
		t.Error("EncodeResponse with 126 values succeeded")
	}
	frame, err := EncodeResponse(1, 3, make([]uint16, MaxRegisters))
	if err != nil || len(frame) != 255 {
		t.Errorf("EncodeResponse(125 values) = %d bytes, %v; want 255", len(frame), err)
	}
}
