package sim

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Seal events, in the seal reading's "event" field.
const (
	EventSealed    = "sealed"    // the seal was closed at the origin, at departure
	EventHeartbeat = "heartbeat" // periodic report
	EventOpened    = "opened"    // the seal was opened at the destination
)

// Run samples the voyage from departure every Config.Interval of wall-clock
// time and hands the readings to sink: round k is voyage time
// k × Interval × TimeFactor, so a slow sink slows the voyage instead of
// skipping it. Each round yields a gps and a temperature reading, then any
// seal events that fell due since the previous round, in time order.
//
// A reading the sink does not accept is logged and the voyage goes on. Run
// returns nil when ctx is done; it has no other way to end.
func (v *Voyage) Run(ctx context.Context, sink sensors.Sink) error {
	v.log.Info("simulated voyage",
		"from", v.legs[0].from.area, "to", v.legs[len(v.legs)-1].to.area,
		"distance_nm", math.Round(v.length/metresPerNM),
		"voyage", v.arrival.Round(time.Hour).String(),
		"wall", time.Duration(float64(v.arrival)/v.cfg.TimeFactor).Round(time.Second).String(),
		"start", v.start, "seal_id", v.cfg.SealID)

	tick := time.NewTicker(v.cfg.Interval)
	defer tick.Stop()
	prev := time.Duration(-1)
	for k := int64(0); ; k++ {
		e := time.Duration(float64(k) * float64(v.cfg.Interval) * v.cfg.TimeFactor)
		for _, r := range v.readings(prev, e) {
			if err := sink.Accept(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				v.log.Warn("reading not accepted", "sensor", r.Sensor, "kind", r.Kind, "time", r.Time, "err", err)
			}
		}
		if prev < v.arrival && e >= v.arrival {
			v.log.Info("voyage arrived", "area", v.legs[len(v.legs)-1].to.area, "time", v.start.Add(v.arrival))
		}
		prev = e
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// readings returns the readings of the round at voyage time e; prev is the
// previous round's time, or negative for the first round.
func (v *Voyage) readings(prev, e time.Duration) []sensors.Reading {
	s := v.At(e)
	ids := v.Sensors()
	out := []sensors.Reading{
		{
			Sensor:    ids[0],
			Kind:      sensors.KindGPS,
			Time:      s.Time,
			Clock:     sensors.ClockGPS,
			Container: v.cfg.Container,
			Data: map[string]any{
				"lat":        round(s.Lat, 6),
				"lon":        round(s.Lon, 6),
				"alt_m":      round(s.AltM, 1),
				"speed_mps":  round(s.SpeedMPS, 2),
				"course_deg": round(s.CourseDeg, 1),
				"fix":        "3d",
				"sats":       int64(s.Sats),
				"hdop":       round(s.HDOP, 1),
			},
		},
		{
			Sensor:    ids[1],
			Kind:      sensors.KindTemperature,
			Time:      s.Time,
			Clock:     sensors.ClockDevice,
			Container: v.cfg.Container,
			Data: map[string]any{
				"celsius": round(s.ReeferC, 1),
				"probe":   "supply",
			},
		},
	}
	for _, ev := range v.sealEvents(prev, e) {
		es := v.At(ev.at)
		out = append(out, sensors.Reading{
			Sensor:    ids[2],
			Kind:      sensors.KindSeal,
			Time:      es.Time,
			Clock:     sensors.ClockDevice,
			Container: v.cfg.Container,
			MsgID:     v.cfg.SealID + ":" + strconv.FormatInt(ev.counter, 10),
			Data: map[string]any{
				"seal_id":   v.cfg.SealID,
				"state":     es.Seal,
				"event":     ev.event,
				"battery_v": round(es.BatteryV, 3),
				"lat":       round(es.Lat, 5),
				"lon":       round(es.Lon, 5),
			},
		})
	}
	return out
}

// sealEvent is one message of the e-seal. Its counter is the message's
// 1-based position among everything the seal sends, so the counters of a
// voyage run 1, 2, 3, … with no gap.
type sealEvent struct {
	at      time.Duration
	event   string
	counter int64
}

// sealEvents lists the seal's messages with voyage time in (prev, e], in
// time order: "sealed" at 0, a heartbeat at every multiple of the heartbeat
// period, "opened" once, after arrival. A heartbeat at the very instant of
// the opening comes first.
func (v *Voyage) sealEvents(prev, e time.Duration) []sealEvent {
	var out []sealEvent
	if prev < 0 && e >= 0 {
		out = append(out, sealEvent{at: 0, event: EventSealed, counter: 1})
	}
	hb := v.cfg.SealHeartbeat
	open := v.arrival + sealOpenDelay
	openCounter := int64(open/hb) + 2
	openDue := prev < open && open <= e
	first := int64(0)
	if prev >= 0 {
		first = int64(prev / hb)
	}
	for k := first + 1; time.Duration(k)*hb <= e; k++ {
		at := time.Duration(k) * hb
		if openDue && open < at {
			out = append(out, sealEvent{at: open, event: EventOpened, counter: openCounter})
			openDue = false
		}
		c := int64(k) + 1
		if at > open {
			c++
		}
		out = append(out, sealEvent{at: at, event: EventHeartbeat, counter: c})
	}
	if openDue {
		out = append(out, sealEvent{at: open, event: EventOpened, counter: openCounter})
	}
	return out
}

// round rounds x to n decimal places.
func round(x float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(x*p) / p
}
