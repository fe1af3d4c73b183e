package bench

import (
	"context"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// baseline runs the bare consumer: a paho client with paho's defaults but
// for what a reliable consumer needs (persistent session, QoS subscription,
// manual acknowledgement), which counts and acknowledges each message.
func (r *run) baseline(ctx context.Context) (Baseline, error) {
	phase := "baseline"
	clientID := "tally-bench-" + r.id + "-" + phase
	var got, redelivered atomic.Uint64
	handler := func(_ paho.Client, m paho.Message) {
		if m.Duplicate() {
			redelivered.Add(1)
		}
		got.Add(1)
		m.Ack()
	}
	c, err := subscribeSession(r.br.url, clientID, r.prefix(phase)+"/+/temp", byte(r.o.QoS), handler)
	if err != nil {
		return Baseline{}, err
	}
	defer func() {
		c.Disconnect(250)
		if err := dropSession(r.br.url, clientID); err != nil {
			r.log.Warn("bench: baseline session left on the broker", "err", err)
		}
	}()
	distinct := func() uint64 { return got.Load() - redelivered.Load() }
	w, err := r.drive(ctx, phase, distinct, hooks{})
	if err != nil {
		return Baseline{}, err
	}
	b := Baseline{
		Publishing:  w.publishing(r.o.Duration),
		InWindow:    w.inWindow,
		MsgsPerS:    float64(w.inWindow) / r.o.Duration.Seconds(),
		Received:    distinct(),
		Redelivered: redelivered.Load(),
		BacklogPerS: w.backlogRate,
		CPU:         w.cpu,
	}
	if b.Received < b.Publishing.Published {
		b.NotReceived = b.Publishing.Published - b.Received
	}
	return b, nil
}
