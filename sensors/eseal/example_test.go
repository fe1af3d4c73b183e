package eseal_test

import (
	"fmt"
	"time"

	"github.com/tallygw/tally/sensors/eseal"
)

// The daemon decodes a line, has the reading accepted, and only then writes
// the ack back to the seal.
func ExampleDecoder_AckFor() {
	dec, err := eseal.NewDecoder("seal-reader-1", eseal.Config{})
	if err != nil {
		panic(err)
	}
	line := []byte("##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##")
	readings, err := dec.Decode(line, time.Now())
	if err != nil {
		panic(err)
	}
	for _, r := range readings {
		// ... sink.Accept(ctx, r) returned nil (or reported a duplicate) ...
		fmt.Println(r.MsgID, r.Data["state"], r.Data["lat"], r.Data["lon"])
		fmt.Printf("%q\n", dec.AckFor(r))
	}
	// Output:
	// 1000821:34:2017-08-31T08:14:40 sealed 25.708828 -100.37287
	// "##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n"
}
