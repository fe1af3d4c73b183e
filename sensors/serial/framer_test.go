package serial

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// checkFrames verifies the Framer's accounting: the frames, in order,
// cover the first bytes of input exactly, each frame agrees with the
// bytes it took, and what is left is what the Framer says it buffers.
func checkFrames(input []byte, maxLine int, frames []Frame, buffered int) error {
	cur := 0
	for i, f := range frames {
		if f.N <= 0 || cur+f.N > len(input) {
			return fmt.Errorf("frame %d: N=%d at offset %d of %d", i, f.N, cur, len(input))
		}
		seg := input[cur : cur+f.N]
		cur += f.N
		body, lf := bytes.CutSuffix(seg, []byte{'\n'})
		if bytes.IndexByte(body, '\n') >= 0 {
			return fmt.Errorf("frame %d spans a line end: %q", i, seg)
		}
		if !lf && cur != len(input) && !isUnterminated(f.Err) {
			return fmt.Errorf("frame %d has no line end: %q", i, seg)
		}
		if f.Err == nil {
			if !bytes.Equal(f.Line, bytes.Trim(body, "\r")) {
				return fmt.Errorf("frame %d: line %q from bytes %q", i, f.Line, seg)
			}
			if len(f.Line) > maxLine {
				return fmt.Errorf("frame %d: line of %d bytes passed a limit of %d", i, len(f.Line), maxLine)
			}
			continue
		}
		var le *LongLineError
		if !errors.As(f.Err, &le) {
			return fmt.Errorf("frame %d: error %T %v", i, f.Err, f.Err)
		}
		if le.Len != len(body) || le.Max != maxLine {
			return fmt.Errorf("frame %d: %+v for %d bytes", i, le, len(body))
		}
		if want := body[:min(len(body), QuarantineBytes)]; !bytes.Equal(f.Line, want) {
			return fmt.Errorf("frame %d: quarantined %q, want %q", i, f.Line, want)
		}
	}
	if left := len(input) - cur; left != buffered {
		return fmt.Errorf("%d bytes after the frames, Framer buffers %d", left, buffered)
	}
	return nil
}

func isUnterminated(err error) bool {
	var le *LongLineError
	return errors.As(err, &le) && le.Unterminated
}

// frameAll feeds input in chunks of the given size and returns the frames,
// checking the accounting after every chunk.
func frameAll(t testing.TB, fr *Framer, input []byte, chunk int) []Frame {
	t.Helper()
	var frames []Frame
	for off := 0; off < len(input); off += chunk {
		frames = append(frames, fr.Feed(input[off:min(off+chunk, len(input))])...)
		if err := checkFrames(input[:min(off+chunk, len(input))], fr.max, frames, fr.Buffered()); err != nil {
			t.Fatalf("after %d bytes: %v", min(off+chunk, len(input)), err)
		}
	}
	return frames
}

type wantFrame struct {
	line string // the line, or the quarantined bytes
	err  string // the error text, "" for a line
}

func TestFramer(t *testing.T) {
	long300 := strings.Repeat("x", 300)
	long1000 := strings.Repeat("y", 1000)
	max256 := strings.Repeat("m", 256)
	tests := []struct {
		name     string
		max      int
		in       string
		want     []wantFrame
		buffered int
		flush    *wantFrame
	}{
		{name: "lf", in: "a\nbb\n", want: []wantFrame{{line: "a"}, {line: "bb"}}},
		{name: "crlf", in: "$GPGGA,1*00\r\n$GPRMC\r\n", want: []wantFrame{{line: "$GPGGA,1*00"}, {line: "$GPRMC"}}},
		{name: "lfcr", in: "abc\n\rdef\n\r", want: []wantFrame{{line: "abc"}, {line: "def"}}, buffered: 1, flush: &wantFrame{line: ""}},
		{name: "empty lines", in: "\n\r\n\n", want: []wantFrame{{}, {}, {}}},
		{name: "inner cr kept", in: "a\rb\r\n", want: []wantFrame{{line: "a\rb"}}},
		{name: "partial", in: "T=1\nT=2", want: []wantFrame{{line: "T=1"}}, buffered: 3, flush: &wantFrame{line: "T=2"}},
		{name: "binary", in: "\x00\xff\x01\n", want: []wantFrame{{line: "\x00\xff\x01"}}},
		{name: "exactly max", in: max256 + "\n", want: []wantFrame{{line: max256}}},
		{name: "exactly max crlf", in: max256 + "\r\n", want: []wantFrame{{line: max256}}},
		{name: "exactly max cr both ends", in: "\r" + max256 + "\r\n", want: []wantFrame{{line: max256}}},
		{name: "max plus one", in: max256 + "z\nok\n", want: []wantFrame{
			{line: max256 + "z", err: "line longer than 256 bytes (got 257)"}, {line: "ok"}}},
		{name: "too long then resync", in: long300 + "\r\nT=1\n", want: []wantFrame{
			{line: long300 + "\r", err: "line longer than 256 bytes (got 301)"}, {line: "T=1"}}},
		{name: "raw kept is bounded", in: long1000 + "\nT=1\n", want: []wantFrame{
			{line: long1000[:QuarantineBytes], err: "line longer than 256 bytes (got 1000)"}, {line: "T=1"}}},
		{name: "small limit", max: 3, in: "abc\nabcd\nab\n", want: []wantFrame{
			{line: "abc"}, {line: "abcd", err: "line longer than 3 bytes (got 4)"}, {line: "ab"}}},
		{name: "cr only device", max: 8, in: "T=1\rT=2\rT=3\r\n", want: []wantFrame{
			{line: "T=1\rT=2\rT=3\r", err: "line longer than 8 bytes (got 12); does the device end lines with CR only?"}}},
		{name: "long pending at flush", max: 4, in: "abcdef", buffered: 6,
			flush: &wantFrame{line: "abcdef", err: "line longer than 4 bytes (got 6 without a line end); wrong baud rate, or not a line protocol?"}},
		{name: "over max in buffer at flush", max: 4, in: "abcde", buffered: 5,
			flush: &wantFrame{line: "abcde", err: "line longer than 4 bytes (got 5 without a line end); wrong baud rate, or not a line protocol?"}},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 7, 4096} {
			t.Run(fmt.Sprintf("%s/chunk%d", tc.name, chunk), func(t *testing.T) {
				max := tc.max
				if max == 0 {
					max = 256
				}
				fr := NewFramer(max)
				frames := frameAll(t, fr, []byte(tc.in), chunk)
				assertFrames(t, frames, tc.want)
				if got := fr.Buffered(); got != tc.buffered {
					t.Errorf("Buffered() = %d, want %d", got, tc.buffered)
				}
				f, ok := fr.Flush()
				if ok != (tc.flush != nil) {
					t.Fatalf("Flush() ok = %v, want %v", ok, tc.flush != nil)
				}
				if ok {
					assertFrames(t, []Frame{f}, []wantFrame{*tc.flush})
					if err := checkFrames([]byte(tc.in), max, append(frames, f), fr.Buffered()); err != nil {
						t.Error(err)
					}
				}
				if fr.Buffered() != 0 {
					t.Errorf("Buffered() = %d after Flush", fr.Buffered())
				}
			})
		}
	}
}

func assertFrames(t *testing.T, got []Frame, want []wantFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		errText := ""
		if got[i].Err != nil {
			errText = got[i].Err.Error()
		}
		if string(got[i].Line) != want[i].line || errText != want[i].err {
			t.Errorf("frame %d = %q, %q; want %q, %q", i, got[i].Line, errText, want[i].line, want[i].err)
		}
	}
}

// A stream without line ends is reported every run bytes, and the Framer
// resyncs at the LF that finally comes.
func TestFramerUnterminatedRun(t *testing.T) {
	fr := NewFramer(256)
	noise := bytes.Repeat([]byte{0xAA, 0x55, 0x0D}, 50000) // 150000 bytes, CRs but no LF
	in := append(append(noise, '\n'), "T=1\n"...)
	frames := frameAll(t, fr, in, 4096)
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4: 2 runs of 64 KiB, the rest, T=1", len(frames))
	}
	for i, want := range []struct {
		n            int
		unterminated bool
	}{{minRun, true}, {minRun, true}, {len(noise) - 2*minRun, false}} {
		var le *LongLineError
		if !errors.As(frames[i].Err, &le) || le.Len != want.n || le.Unterminated != want.unterminated || !le.CR {
			t.Errorf("frame %d: %+v, want Len %d Unterminated %v CR", i, frames[i].Err, want.n, want.unterminated)
		}
		if len(frames[i].Line) != QuarantineBytes {
			t.Errorf("frame %d keeps %d bytes", i, len(frames[i].Line))
		}
	}
	if string(frames[3].Line) != "T=1" {
		t.Errorf("after resync: %q", frames[3].Line)
	}
}

// An LF right after a reported run ends an empty remainder, not another
// over-long line.
func TestFramerRunEndsAtLimit(t *testing.T) {
	fr := NewFramer(10)
	in := append(bytes.Repeat([]byte("z"), minRun), "\nok\n"...)
	frames := frameAll(t, fr, in, 1000)
	if len(frames) != 3 || frames[0].Err == nil || frames[1].Err != nil || len(frames[1].Line) != 0 || string(frames[2].Line) != "ok" {
		t.Fatalf("frames: %+v", frames)
	}
}

func TestNewFramerDefault(t *testing.T) {
	if fr := NewFramer(0); fr.max != DefaultMaxLine {
		t.Errorf("NewFramer(0) limit %d", fr.max)
	}
}
