// Package modbus is a Modbus RTU master that polls RS-485 temperature and
// humidity transmitters and hands their values on as sensors.Reading.
//
// The package has three layers, each usable on its own:
//
//   - Frames (frame.go): CRC-16/MODBUS, encoding and parsing of the read
//     requests and responses of functions 03 (read holding registers) and
//     04 (read input registers), and exception responses. These are pure
//     functions over []byte that return errors, never panic, on bad input.
//     The slave-side encoders exist for simulators and tests.
//   - Register mapping (point.go): a Point says which register holds a
//     value, how to scale it and under which key it goes into Reading.Data.
//   - The Poller (poller.go): owns one bus (one serial port, several slave
//     addresses), schedules each Device at its own interval, keeps the
//     inter-frame silence, times out and retries, quarantines bad frames
//     and keeps per-device counters. It does I/O through the small Port
//     interface, so the port itself is opened, configured and reopened
//     elsewhere (sensors/serial, or a pty in tests).
//
// Register addresses are protocol addresses (0-based, as sent on the wire),
// not the 3xxxx/4xxxx reference numbers some manuals print: reference 30002
// is input register 1.
package modbus

import (
	"errors"
	"fmt"
)

// Function codes this package speaks.
const (
	FuncReadHoldingRegisters byte = 0x03
	FuncReadInputRegisters   byte = 0x04
)

// Protocol limits.
const (
	// MaxRegisters is the most registers one 03/04 request may ask for.
	MaxRegisters = 125
	// MaxFrame is the longest RTU frame (ADU) in bytes.
	MaxFrame = 256
	// MinSlave and MaxSlave bound a unicast slave address; 0 is broadcast,
	// which reads cannot use, and 248–255 are reserved.
	MinSlave = 1
	MaxSlave = 247

	exceptionBit = 0x80
	requestLen   = 8 // slave, function, start (2), count (2), CRC (2)
	minFrameLen  = 5 // slave, function, one byte, CRC (2): an exception frame
)

// ErrBadFrame is wrapped by every error about a malformed frame: one that
// should be quarantined with its raw bytes. Callers branch on it with
// errors.Is; the specific errors below say what was wrong.
var ErrBadFrame = errors.New("modbus: bad frame")

// Specific frame errors; each wraps ErrBadFrame.
var (
	ErrShortFrame    = fmt.Errorf("%w: short frame", ErrBadFrame)
	ErrCRC           = fmt.Errorf("%w: crc mismatch", ErrBadFrame)
	ErrWrongSlave    = fmt.Errorf("%w: wrong slave address", ErrBadFrame)
	ErrWrongFunction = fmt.Errorf("%w: wrong function code", ErrBadFrame)
	ErrByteCount     = fmt.Errorf("%w: byte count mismatch", ErrBadFrame)
)

// CRC16 returns the CRC-16/MODBUS of data: reflected polynomial 0xA001,
// initial value 0xFFFF, no final xor. On the wire it is sent low byte first.
func CRC16(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// AppendCRC appends the CRC-16/MODBUS of b to b, low byte first.
func AppendCRC(b []byte) []byte {
	crc := CRC16(b)
	return append(b, byte(crc), byte(crc>>8))
}

// frameCRC returns the CRC a frame carries in its last two bytes and the one
// computed over the rest. The frame must be at least two bytes long.
func frameCRC(frame []byte) (got, want uint16) {
	n := len(frame)
	return uint16(frame[n-2]) | uint16(frame[n-1])<<8, CRC16(frame[:n-2])
}

// Request is a read request: Count registers from Start, with function 03
// or 04, addressed to one slave.
type Request struct {
	Slave    byte
	Function byte
	Start    uint16
	Count    uint16
}

// Validate reports whether r is a request this package may send.
func (r Request) Validate() error {
	switch {
	case r.Slave < MinSlave || r.Slave > MaxSlave:
		return fmt.Errorf("modbus: slave address %d out of range %d–%d", r.Slave, MinSlave, MaxSlave)
	case r.Function != FuncReadHoldingRegisters && r.Function != FuncReadInputRegisters:
		return fmt.Errorf("modbus: function 0x%02X not supported (want 0x03 or 0x04)", r.Function)
	case r.Count < 1 || r.Count > MaxRegisters:
		return fmt.Errorf("modbus: register count %d out of range 1–%d", r.Count, MaxRegisters)
	case int(r.Start)+int(r.Count) > 0x10000:
		return fmt.Errorf("modbus: registers %d+%d run past 65535", r.Start, r.Count)
	}
	return nil
}

// Encode returns the RTU frame of r, CRC included.
func (r Request) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b := []byte{r.Slave, r.Function, byte(r.Start >> 8), byte(r.Start), byte(r.Count >> 8), byte(r.Count)}
	return AppendCRC(b), nil
}

// String describes r for logs: "slave 1 function 0x04 start 1 count 2".
func (r Request) String() string {
	return fmt.Sprintf("slave %d function 0x%02X start %d count %d", r.Slave, r.Function, r.Start, r.Count)
}

// ParseRequest decodes an 8-byte request frame of the shape functions 03
// and 04 use (as a slave sees it). It checks the length and CRC only; call
// Validate on the result to check the slave, function and range.
func ParseRequest(frame []byte) (Request, error) {
	if len(frame) < requestLen {
		return Request{}, fmt.Errorf("%w: %d bytes, a request has %d", ErrShortFrame, len(frame), requestLen)
	}
	if len(frame) > requestLen {
		return Request{}, fmt.Errorf("%w: %d bytes, a request has %d", ErrByteCount, len(frame), requestLen)
	}
	if got, want := frameCRC(frame); got != want {
		return Request{}, fmt.Errorf("%w: frame says 0x%04X, computed 0x%04X", ErrCRC, got, want)
	}
	return Request{
		Slave:    frame[0],
		Function: frame[1],
		Start:    uint16(frame[2])<<8 | uint16(frame[3]),
		Count:    uint16(frame[4])<<8 | uint16(frame[5]),
	}, nil
}

// expectedLen returns the length of a response to req implied by the first
// bytes of a frame, or 0 when those bytes do not say (too few of them, or a
// function code that answers neither req nor its exception).
func expectedLen(head []byte, req Request) int {
	if len(head) < 2 {
		return 0
	}
	switch head[1] {
	case req.Function | exceptionBit:
		return minFrameLen
	case req.Function:
		if len(head) < 3 {
			return 0
		}
		return 3 + int(head[2]) + 2
	}
	return 0
}

// ParseResponse checks a response frame against the request it answers and
// returns the register values. It checks, in order: length, CRC, slave
// address, function code, byte count. A well-formed exception response
// returns an *ExceptionError; every other failure wraps ErrBadFrame.
func ParseResponse(frame []byte, req Request) ([]uint16, error) {
	n := len(frame)
	if n < minFrameLen {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortFrame, n, minFrameLen)
	}
	want := expectedLen(frame, req)
	if got, calc := frameCRC(frame); got != calc {
		if want > n {
			// The frame was cut off: say so rather than blame the CRC.
			return nil, fmt.Errorf("%w: %d bytes, its header implies %d", ErrShortFrame, n, want)
		}
		return nil, fmt.Errorf("%w: frame says 0x%04X, computed 0x%04X", ErrCRC, got, calc)
	}
	if frame[0] != req.Slave {
		return nil, fmt.Errorf("%w: response from slave %d, request was to slave %d", ErrWrongSlave, frame[0], req.Slave)
	}
	if frame[1] == req.Function|exceptionBit {
		if n != minFrameLen {
			return nil, fmt.Errorf("%w: exception response of %d bytes, want %d", ErrByteCount, n, minFrameLen)
		}
		return nil, &ExceptionError{Slave: frame[0], Function: req.Function, Code: ExceptionCode(frame[2])}
	}
	if frame[1] != req.Function {
		return nil, fmt.Errorf("%w: response has function 0x%02X, request was 0x%02X", ErrWrongFunction, frame[1], req.Function)
	}
	if bc := int(frame[2]); bc != 2*int(req.Count) {
		return nil, fmt.Errorf("%w: byte count %d, requested %d registers (%d bytes)", ErrByteCount, bc, req.Count, 2*int(req.Count))
	}
	if n < want {
		return nil, fmt.Errorf("%w: %d bytes, its header implies %d", ErrShortFrame, n, want)
	}
	if n > want {
		return nil, fmt.Errorf("%w: %d bytes, its header implies %d", ErrByteCount, n, want)
	}
	values := make([]uint16, req.Count)
	for i := range values {
		values[i] = uint16(frame[3+2*i])<<8 | uint16(frame[4+2*i])
	}
	return values, nil
}

// EncodeResponse returns the response frame a slave sends to a 03 or 04
// request: the register values, big-endian, CRC appended.
func EncodeResponse(slave, function byte, values []uint16) ([]byte, error) {
	if len(values) < 1 || len(values) > MaxRegisters {
		return nil, fmt.Errorf("modbus: %d register values, want 1–%d", len(values), MaxRegisters)
	}
	b := make([]byte, 0, 3+2*len(values)+2)
	b = append(b, slave, function, byte(2*len(values)))
	for _, v := range values {
		b = append(b, byte(v>>8), byte(v))
	}
	return AppendCRC(b), nil
}

// EncodeException returns the exception response a slave sends when it
// refuses a request with the given function code.
func EncodeException(slave, function byte, code ExceptionCode) []byte {
	return AppendCRC([]byte{slave, function | exceptionBit, byte(code)})
}

// ExceptionCode is the code of an exception response.
type ExceptionCode byte

// Exception codes from the Modbus application protocol specification.
const (
	ExceptionIllegalFunction     ExceptionCode = 0x01
	ExceptionIllegalDataAddress  ExceptionCode = 0x02
	ExceptionIllegalDataValue    ExceptionCode = 0x03
	ExceptionServerDeviceFailure ExceptionCode = 0x04
	ExceptionAcknowledge         ExceptionCode = 0x05
	ExceptionServerBusy          ExceptionCode = 0x06
	ExceptionMemoryParityError   ExceptionCode = 0x08
	ExceptionGatewayPath         ExceptionCode = 0x0A
	ExceptionGatewayTarget       ExceptionCode = 0x0B
)

// String returns the code's meaning, as the specification names it.
func (c ExceptionCode) String() string {
	switch c {
	case ExceptionIllegalFunction:
		return "illegal function"
	case ExceptionIllegalDataAddress:
		return "illegal data address"
	case ExceptionIllegalDataValue:
		return "illegal data value"
	case ExceptionServerDeviceFailure:
		return "server device failure"
	case ExceptionAcknowledge:
		return "acknowledge"
	case ExceptionServerBusy:
		return "server busy"
	case ExceptionMemoryParityError:
		return "memory parity error"
	case ExceptionGatewayPath:
		return "gateway path unavailable"
	case ExceptionGatewayTarget:
		return "gateway target device failed to respond"
	}
	return "unknown exception code"
}

// ExceptionError is a slave's exception response: it received the request
// and refused it. Function is the request's function code (without 0x80).
type ExceptionError struct {
	Slave    byte
	Function byte
	Code     ExceptionCode
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: slave %d refused function 0x%02X: exception 0x%02X (%s)",
		e.Slave, e.Function, byte(e.Code), e.Code)
}
