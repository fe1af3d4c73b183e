package serial

import (
	"bytes"
	"fmt"
)

// QuarantineBytes is how many bytes of an over-long line a Frame keeps,
// for the quarantine table.
const QuarantineBytes = 512

// minRun is the least number of bytes of an over-long line read without a
// line end before the Framer reports it anyway (see Framer).
const minRun = 64 << 10

// Frame is one item out of a Framer: a complete line, or a line that was
// too long.
type Frame struct {
	// Line is the line without its line ending (CR bytes at either end
	// are stripped too). For an over-long line it is its first
	// QuarantineBytes bytes, as received. Line is never shared with the
	// Framer or the caller's chunk.
	Line []byte
	// Err is nil for a line, or a *LongLineError.
	Err error
	// N is how many input bytes the frame took, line ending included.
	N int
}

// LongLineError is a line longer than the limit. Its message is the
// quarantine reason: "line longer than 256 bytes (got 300)".
type LongLineError struct {
	Max int // the limit, Config.MaxLine
	Len int // bytes of the line seen, without the LF
	// Unterminated is set when Len bytes came without any line end; more
	// of the same run may follow in another Frame.
	Unterminated bool
	// CR is set when the line held a CR other than at its ends: what the
	// lines of a device that ends them with CR alone look like.
	CR bool
}

func (e *LongLineError) Error() string {
	msg := fmt.Sprintf("line longer than %d bytes (got %d", e.Max, e.Len)
	if e.Unterminated {
		msg += " without a line end"
	}
	msg += ")"
	switch {
	case e.CR:
		msg += "; does the device end lines with CR only?"
	case e.Unterminated:
		msg += "; wrong baud rate, or not a line protocol?"
	}
	return msg
}

// Framer splits a byte stream into lines ending in LF, stripping CR at
// either end of each line (CRLF, and the LFCR some devices send). It does
// no I/O and is not safe for concurrent use.
//
// A line longer than the limit (without its line ending) becomes a Frame
// with a *LongLineError and its first QuarantineBytes bytes; the Framer
// skips the rest of it and resyncs at the next LF. A run without any LF is
// reported every max(64 KiB, 4×limit) bytes, so a port sending noise is
// never silent.
//
// Every input byte ends up in exactly one Frame (Frame.N) or is still
// held, waiting for its line end (Buffered).
type Framer struct {
	max     int
	run     int    // report an unterminated over-long run after this many bytes
	pending []byte // the line so far (at most max+2 bytes: a CR at each end)
	// While skipping an over-long line:
	long    bool
	longN   int    // bytes of it seen
	longRaw []byte // its first QuarantineBytes bytes
	crs     int    // CR bytes in it
	firstCR bool   // it began with a CR
	lastCR  bool   // the last byte seen was a CR
}

// NewFramer returns a Framer for lines of at most maxLine bytes (not
// counting the line ending). maxLine below 1 means DefaultMaxLine.
func NewFramer(maxLine int) *Framer {
	if maxLine < 1 {
		maxLine = DefaultMaxLine
	}
	return &Framer{max: maxLine, run: max(minRun, 4*maxLine)}
}

// Buffered returns how many input bytes the Framer holds that are in no
// Frame yet.
func (f *Framer) Buffered() int {
	if f.long {
		return f.longN
	}
	return len(f.pending)
}

// Feed consumes chunk and returns the frames it completed, in order.
func (f *Framer) Feed(chunk []byte) []Frame {
	var out []Frame
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		seg := chunk
		if i >= 0 {
			seg = chunk[:i]
		}
		for len(seg) > 0 {
			if !f.long {
				if len(seg) <= f.max+2-len(f.pending) {
					f.pending = append(f.pending, seg...)
					break
				}
				f.startLong()
			}
			take := min(len(seg), f.run-f.longN)
			f.skip(seg[:take])
			seg = seg[take:]
			if f.longN >= f.run {
				out = append(out, f.endLong(false)) // and keep skipping
			}
		}
		if i < 0 {
			break
		}
		chunk = chunk[i+1:]
		out = append(out, f.endLine(true))
	}
	return out
}

// Flush returns what the Framer holds as a final frame, when the stream
// has ended (the port was lost): a line without its line end, or an
// over-long one. ok is false when the Framer holds nothing.
func (f *Framer) Flush() (fr Frame, ok bool) {
	if f.Buffered() == 0 {
		f.long = false
		return Frame{}, false
	}
	return f.endLine(false), true
}

// endLine ends the current line, at an LF when terminated.
func (f *Framer) endLine(terminated bool) Frame {
	var fr Frame
	if !f.long {
		if line := bytes.Trim(f.pending, "\r"); len(line) <= f.max {
			fr = Frame{Line: bytes.Clone(line), N: len(f.pending)}
			f.pending = f.pending[:0]
		} else {
			f.startLong()
		}
	}
	if f.long {
		if f.longN > 0 {
			fr = f.endLong(terminated)
		} else {
			// The run was reported when it hit the limit and nothing
			// followed it: only the LF is left.
			fr = Frame{Line: []byte{}}
		}
		f.long = false
	}
	if terminated {
		fr.N++
	}
	return fr
}

// startLong turns the pending bytes into the start of an over-long line.
func (f *Framer) startLong() {
	f.long = true
	f.skip(f.pending)
	f.pending = f.pending[:0]
}

// skip accounts for b as part of the over-long line.
func (f *Framer) skip(b []byte) {
	if len(b) == 0 {
		return
	}
	if n := QuarantineBytes - len(f.longRaw); n > 0 {
		f.longRaw = append(f.longRaw, b[:min(n, len(b))]...)
	}
	if f.longN == 0 {
		f.firstCR = b[0] == '\r'
	}
	f.crs += bytes.Count(b, []byte{'\r'})
	f.lastCR = b[len(b)-1] == '\r'
	f.longN += len(b)
}

// endLong returns the frame of the over-long line seen so far and resets
// the count for the rest of it; terminated says an LF ends it (the caller
// accounts for the LF).
func (f *Framer) endLong(terminated bool) Frame {
	inner := f.crs
	if f.firstCR {
		inner--
	}
	if terminated && f.lastCR && f.longN > 1 {
		inner--
	}
	fr := Frame{
		Line: f.longRaw,
		Err:  &LongLineError{Max: f.max, Len: f.longN, Unterminated: !terminated, CR: inner > 0},
		N:    f.longN,
	}
	f.longN, f.longRaw, f.crs, f.firstCR, f.lastCR = 0, nil, 0, false, false
	return fr
}
