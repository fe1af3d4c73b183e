package mqtt

import (
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkMosquitto measures QoS 1 temperature messages through a local
// mosquitto into an in-memory async sink, every message acknowledged;
// publisher and subscriber share this process and its cores. One op is
// one message:
//
//	go test -run '^$' -bench Mosquitto -benchtime 50000x ./sensors/mqtt
func BenchmarkMosquitto(b *testing.B) {
	br := startMosquitto(b, "")
	sink := newMemSink(b)
	r := startSubscriber(b, testConfig(br, "tally-bench"), sink)
	r.waitConnected()
	pub := newPublisher(b, br, "", "")
	msgs := make([]testMsg, b.N)
	for i := range msgs {
		msgs[i] = tempMsg(i%50, i)
	}
	b.ResetTimer()
	start := time.Now()
	go func() {
		for _, m := range msgs {
			pub.c.Publish(m.topic, 1, false, []byte(m.payload))
		}
	}()
	waitFor(b, 10*time.Minute, "every message acknowledged", func() bool { return r.s.Stats().Acked == uint64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkMosquittoBarePaho is the reference for BenchmarkMosquitto: a
// paho client that only acknowledges (automatic acks, default options),
// same broker, same publisher.
func BenchmarkMosquittoBarePaho(b *testing.B) {
	br := startMosquitto(b, "")
	var got atomic.Int64
	o := paho.NewClientOptions().AddBroker(br.url).SetClientID("bare").SetCleanSession(false).SetProtocolVersion(4)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(250)
	if tok := c.Subscribe("reefer/+/temp", 1, func(paho.Client, paho.Message) { got.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	pub := newPublisher(b, br, "", "")
	msgs := make([]testMsg, b.N)
	for i := range msgs {
		msgs[i] = tempMsg(i%50, i)
	}
	b.ResetTimer()
	start := time.Now()
	go func() {
		for _, m := range msgs {
			pub.c.Publish(m.topic, 1, false, []byte(m.payload))
		}
	}()
	waitFor(b, 10*time.Minute, "every message received", func() bool { return got.Load() == int64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
