package serial

import (
	"testing"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/eseal"
)

// The e-seal decoder and its acks over a pty: an accepted report is
// acknowledged the way the seal expects; a malformed one is quarantined.
func TestRunLinesESeal(t *testing.T) {
	tp := newPTY(t)
	dec, err := eseal.NewDecoder("seal-door-1", eseal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sink := &testSink{}
	r := startLines(t, testConfig(tp.Path), dec, sink, LineOptions{Sensor: "seal-door-1", Ack: dec.AckFor}, newLogRecorder())
	waitOpen(t, r, 1)
	const report = "##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##"
	if _, err := tp.Master.Write([]byte("##S,eSeal,broken\r\n" + report + "\r\n")); err != nil {
		t.Fatal(err)
	}
	want := "##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n"
	got := make([]byte, len(want))
	tp.ReadFull(t, got)
	if string(got) != want {
		t.Errorf("ack %q, want %q", got, want)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.readings) != 1 || sink.readings[0].Data["state"] != sensors.SealSealed {
		t.Errorf("readings %+v", sink.readings)
	}
	if len(sink.quar) != 1 || string(sink.quar[0].raw) != "##S,eSeal,broken" {
		t.Errorf("quarantined %q", sink.quar)
	}
}
