package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/nmea"
)

// Messages: from paho's handler through decoding to the sink, and back to
// the broker as an acknowledgement.

// pending is a message in flight: it is answered when its last reference
// is released. The handler holds one while it decodes; each reading holds
// one until the sink answers; an NMEA epoch still open holds one.
type pending struct {
	r     *run
	msg   paho.Message
	refs  atomic.Int32
	bad   atomic.Bool    // a reading was refused: do not acknowledge
	keyed bool           // registered in run.byID
	dups  []paho.Message // redeliveries joined to this one; guarded by run.mu
}

func (p *pending) hold() { p.refs.Add(1) }

func (p *pending) release(err error) {
	if err != nil {
		p.bad.Store(true)
	}
	if p.refs.Add(-1) == 0 {
		p.r.finish(p)
	}
}

type ackItem struct {
	msg  paho.Message
	dups []paho.Message
}

// handle is paho's handler for every message. It runs on paho's router
// goroutine, one message at a time.
func (r *run) handle(_ paho.Client, m paho.Message) {
	s := r.s
	if r.ctx.Err() != nil {
		return // shutting down: not acknowledged, so the broker keeps it
	}
	s.messages.Add(1)
	if m.Qos() > 0 && m.Duplicate() && r.join(m) {
		return
	}
	if !r.acquire() {
		return // shutting down or disconnected: the broker redelivers it
	}
	p := &pending{r: r, msg: m}
	p.refs.Store(1)
	if m.Qos() > 0 {
		r.mu.Lock()
		if _, ok := r.byID[m.MessageID()]; !ok {
			r.byID[m.MessageID()] = p
			p.keyed = true
		}
		r.mu.Unlock()
	}
	defer p.release(nil)
	r.process(p)
}

// join attaches a redelivered message to its first copy when that is still
// in flight (the connection dropped before it was acknowledged): both are
// acknowledged together, and the payload is not decoded twice.
func (r *run) join(m paho.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.byID[m.MessageID()]
	if p == nil || p.msg.Topic() != m.Topic() || !bytes.Equal(p.msg.Payload(), m.Payload()) {
		return false
	}
	p.dups = append(p.dups, m)
	r.s.redelivered.Add(1)
	return true
}

// acquire takes an in-flight slot, waiting while max_inflight messages are
// in flight. It gives up when ctx is done or the connection is lost.
func (r *run) acquire() bool {
	select {
	case r.slots <- struct{}{}:
		r.s.inflight.Add(1)
		return true
	default:
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case r.slots <- struct{}{}:
			r.s.inflight.Add(1)
			return true
		case <-r.ctx.Done():
			return false
		case <-t.C:
			if !r.client.IsConnectionOpen() {
				return false
			}
		}
	}
}

func (r *run) releaseSlot() {
	r.s.inflight.Add(-1)
	<-r.slots
}

// finish answers a message whose references are all released.
func (r *run) finish(p *pending) {
	var dups []paho.Message
	if p.keyed {
		r.mu.Lock()
		delete(r.byID, p.msg.MessageID())
		dups, p.dups = p.dups, nil
		r.mu.Unlock()
	}
	switch {
	case p.bad.Load():
		r.releaseSlot()
		select {
		case r.redeliver <- struct{}{}:
		default:
		}
	case p.msg.Qos() == 0:
		r.releaseSlot()
	default:
		// Never blocks: every item holds a slot until ackLoop is done
		// with it, and acks has room for them all.
		r.acks <- ackItem{p.msg, dups}
	}
}

// ackLoop acknowledges finished messages, in the order they finished.
func (r *run) ackLoop(stop <-chan struct{}) {
	for {
		select {
		case a := <-r.acks:
			a.msg.Ack()
			for _, d := range a.dups {
				d.Ack()
			}
			r.s.acked.Add(uint64(1 + len(a.dups)))
			r.releaseSlot()
		case <-stop:
			return
		}
	}
}

// waitIdle waits until no message is in flight, at most d or until ctx is
// done.
func (r *run) waitIdle(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for r.s.inflight.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// shutdown ends the connection once ctx is done: it closes open NMEA
// epochs, lets the sink answer what is in flight, and disconnects.
func (r *run) shutdown() {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), shutdownQuiesce)
	defer cancel()
	r.flushNMEA(qctx, 0)
	r.waitIdle(qctx, shutdownQuiesce)
	r.client.Disconnect(disconnectQuiesce)
	r.s.connected.Store(false)
	if n := r.s.inflight.Load(); n > 0 {
		r.s.logger.Info("mqtt: disconnected with messages in flight; the broker redelivers them on the next start", "in_flight", n)
	} else {
		r.s.logger.Info("mqtt: disconnected")
	}
}

// process decodes one message and hands its readings to the sink.
func (r *run) process(p *pending) {
	s := r.s
	m := p.msg
	if m.Retained() && !s.cfg.AcceptRetained {
		s.retained.Add(1)
		return
	}
	topic, payload := m.Topic(), m.Payload()
	rt, caps := r.route(topic)
	if rt == nil {
		r.quarantine(topicSensor(topic), ClassUnknownTopic,
			fmt.Sprintf("topic %s matches no configured filter (a subscription left in the broker's session by an earlier config?)", quoteTopic(topic)), payload)
		return
	}
	sensor := rt.tpl.expand(caps)
	if !validSensorID(sensor) {
		r.quarantine(topicSensor(topic), ClassTopic,
			fmt.Sprintf("topic %s gives sensor id %s, which is not valid (letters, digits, '.', '_', '-', at most %d)", quoteTopic(topic), quoteTopic(sensor), maxSensorLen), payload)
		return
	}
	if len(payload) > s.cfg.MaxPayload {
		r.quarantine(sensor, ClassTooLarge,
			fmt.Sprintf("topic %s: payload of %d bytes is larger than max_payload (%d)", quoteTopic(topic), len(payload), s.cfg.MaxPayload), payload)
		return
	}
	if rt.decode == nil {
		r.nmeaMessage(p, rt, sensor, topic, payload)
		return
	}
	rd, err := rt.decode(payload)
	if err != nil {
		class := ClassSchema
		var pe *PayloadError
		if errors.As(err, &pe) {
			class = pe.Class
		}
		r.quarantine(sensor, class, fmt.Sprintf("topic %s: %v", quoteTopic(topic), err), payload)
		return
	}
	rd.Sensor = sensor
	if rd.Container == "" {
		rd.Container = rt.Container
	}
	r.submit(r.ctx, rd, p)
}

// route finds the route whose filter matches topic, and the levels its
// '+' matched.
func (r *run) route(topic string) (*route, []string) {
	for i := range r.s.routes {
		rt := &r.s.routes[i]
		if caps, ok := matchTopic(rt.filter, topic, r.caps[:0]); ok {
			r.caps = caps
			return rt, caps
		}
	}
	return nil, nil
}

// topicSensor is the quarantine's sensor name for a message whose topic
// names no sensor: "mqtt:" and the topic, clipped.
func topicSensor(topic string) string {
	return "mqtt:" + clipString(topic, 100)
}

func quoteTopic(s string) string { return strconv.Quote(clipString(s, 200)) }

// clipString cuts s to at most n bytes on a rune boundary.
func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// quarantine hands bad input to the sink, its first QuarantineRawMax bytes.
func (r *run) quarantine(sensor, class, reason string, raw []byte) {
	s := r.s
	s.mu.Lock()
	s.quarantined[class]++
	s.mu.Unlock()
	s.logger.Debug("mqtt: quarantined", "sensor", sensor, "class", class, "reason", reason)
	r.sink.Quarantine(r.ctx, sensor, reason, bytes.Clone(raw[:min(len(raw), QuarantineRawMax)]))
}

// submit hands a reading to the sink; each message in ps is held until the
// sink answers.
func (r *run) submit(ctx context.Context, rd sensors.Reading, ps ...*pending) {
	s := r.s
	for _, p := range ps {
		p.hold()
	}
	done := func(err error) {
		if err != nil {
			s.refused.Add(1)
			s.setErr("sink refused a reading from " + rd.Sensor + ": " + err.Error())
			if !s.refusing.Swap(true) {
				s.logger.Warn("mqtt: the sink refused a reading; its message is not acknowledged", "sensor", rd.Sensor, "err", err)
			}
		} else {
			s.readings.Add(1)
			s.refusing.Store(false)
		}
		for _, p := range ps {
			p.release(err)
		}
	}
	if r.async != nil {
		r.async.AcceptAsync(ctx, rd, done)
		return
	}
	r.accepts.Go(func() { done(r.sink.Accept(ctx, rd)) })
}

// nmeaState is one NMEA sensor's decoder and the messages whose sentences
// are in its open epoch (acknowledged once that epoch's readings are).
type nmeaState struct {
	mu        sync.Mutex // guards the fields below
	dec       *nmea.Decoder
	container string
	open      []*pending
	last      time.Time // when a message last added to the open epoch
}

func (r *run) nmeaState(sensor, container string) *nmeaState {
	r.nmeaMu.Lock()
	defer r.nmeaMu.Unlock()
	st := r.nmea[sensor]
	if st == nil {
		if len(r.nmea) >= maxNMEASensors {
			return nil
		}
		st = &nmeaState{dec: nmea.NewDecoder(sensor, nmea.Options{}), container: container}
		r.nmea[sensor] = st
	}
	return st
}

// nmeaMessage feeds a message's lines to the sensor's decoder.
func (r *run) nmeaMessage(p *pending, rt *route, sensor, topic string, payload []byte) {
	if !utf8.Valid(payload) {
		r.quarantine(sensor, ClassUTF8, fmt.Sprintf("topic %s: payload is not valid UTF-8 (first bad byte at offset %d)", quoteTopic(topic), badUTF8Offset(payload)), payload)
		return
	}
	st := r.nmeaState(sensor, rt.Container)
	if st == nil {
		r.quarantine(sensor, ClassLimit, fmt.Sprintf("topic %s: more than %d NMEA sensors on this subscriber (check the topics filter and sensor template)", quoteTopic(topic), maxNMEASensors), payload)
		return
	}
	recv := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	in := false // p is in st.open
	nmeaLines(payload, func(line []byte) {
		rs, err := st.dec.Decode(line, recv)
		if err != nil {
			r.quarantine(sensor, ClassNMEA, fmt.Sprintf("topic %s: %v", quoteTopic(topic), err), line)
			return
		}
		if len(rs) > 0 {
			r.submitEpoch(r.ctx, st, rs)
			in = false
		}
		if !in {
			p.hold()
			st.open = append(st.open, p)
			in = true
		}
	})
	st.last = recv
}

// nmeaLines calls fn for each non-blank line of payload, without its line
// ending: lines end with CR LF, LF or a lone CR.
func nmeaLines(payload []byte, fn func(line []byte)) {
	for len(payload) > 0 {
		i := bytes.IndexAny(payload, "\r\n")
		if i < 0 {
			i = len(payload)
		}
		if line := payload[:i]; len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
		payload = payload[min(i+1, len(payload)):]
	}
}

// submitEpoch hands the readings of a closed epoch to the sink; the
// messages of that epoch are answered with them. st.mu is held.
func (r *run) submitEpoch(ctx context.Context, st *nmeaState, rs []sensors.Reading) {
	msgs := st.open
	st.open = nil
	for _, rd := range rs {
		if rd.Container == "" {
			rd.Container = st.container
		}
		r.submit(ctx, rd, msgs...)
	}
	for _, p := range msgs {
		p.release(nil)
	}
}

// flushLoop closes NMEA epochs that have been idle for nmeaIdleFlush.
func (r *run) flushLoop(stop <-chan struct{}) {
	t := time.NewTicker(nmeaIdleFlush / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flushNMEA(r.ctx, nmeaIdleFlush)
		case <-stop:
			return
		}
	}
}

// flushNMEA closes every open epoch idle for at least idle.
func (r *run) flushNMEA(ctx context.Context, idle time.Duration) {
	r.nmeaMu.Lock()
	states := make([]*nmeaState, 0, len(r.nmea))
	for _, st := range r.nmea {
		states = append(states, st)
	}
	r.nmeaMu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		if len(st.open) > 0 && time.Since(st.last) >= idle {
			r.submitEpoch(ctx, st, st.dec.Flush())
		}
		st.mu.Unlock()
	}
}
