package serial

import (
	"testing"
)

// FuzzFramer checks that framing never panics and that every input byte
// ends up in a line, an over-long frame, or the Framer's buffer.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"), uint8(80), uint8(7))
	f.Add([]byte("T=1\nT=2\r\n\n\rT=3\n\r"), uint8(3), uint8(1))
	f.Add([]byte("abcdefgh\rijk\r\n"), uint8(4), uint8(2))
	f.Add([]byte("\xff\x00\n\n\n"), uint8(1), uint8(0))
	f.Add([]byte("##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##\r\n"), uint8(255), uint8(13))
	f.Fuzz(func(t *testing.T, in []byte, maxLine, chunk uint8) {
		max := int(maxLine)%300 + 1
		fr := NewFramer(max)
		fr.run = 4 * max // small, so that unterminated runs are exercised
		step := int(chunk)%64 + 1
		var frames []Frame
		for off := 0; off < len(in); off += step {
			frames = append(frames, fr.Feed(in[off:min(off+step, len(in))])...)
		}
		if err := checkFrames(in, max, frames, fr.Buffered()); err != nil {
			t.Fatal(err)
		}
		if f, ok := fr.Flush(); ok {
			frames = append(frames, f)
		}
		if err := checkFrames(in, max, frames, fr.Buffered()); err != nil {
			t.Fatalf("after Flush: %v", err)
		}
		if fr.Buffered() != 0 {
			t.Fatalf("Buffered() = %d after Flush", fr.Buffered())
		}
	})
}
