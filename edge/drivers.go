package edge

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/eseal"
	"github.com/tallygw/tally/sensors/lines"
	"github.com/tallygw/tally/sensors/modbus"
	"github.com/tallygw/tally/sensors/mqtt"
	"github.com/tallygw/tally/sensors/nmea"
	"github.com/tallygw/tally/sensors/serial"
	"github.com/tallygw/tally/sensors/sim"
)

// newDriver builds the driver for one configured sensor. Every driver this
// build knows is listed here, explicitly.
func newDriver(sc config.Sensor, b *broker.Broker, logger *slog.Logger) (driver, error) {
	switch sc.Driver {
	case "mqtt":
		mc := *sc.MQTT
		if sc.EmbeddedBroker() {
			in := b.Internal()
			mc.Username, mc.Password = in.Username, in.Password
		}
		return mqtt.New(mc, sc.ID, logger)
	case "nmea", "eseal", "lines":
		dec, err := LineDecoder(sc)
		if err != nil {
			return nil, err
		}
		opts := serial.LineOptions{Sensor: sc.ID}
		if sc.Driver == "nmea" && (sc.NMEA.MinInterval > 0 || sc.NMEA.MinDistanceM > 0) {
			d := &nmea.Decimator{MinInterval: sc.NMEA.MinInterval.D(), MinDistanceM: sc.NMEA.MinDistanceM}
			opts.Keep = d.Keep
		}
		if e, ok := dec.(*eseal.Decoder); ok {
			opts.Ack = e.AckFor
		}
		return driverFunc(func(ctx context.Context, sink sensors.Sink) error {
			return serial.RunLines(ctx, *sc.Serial, dec, sink, opts, logger)
		}), nil
	case "sim":
		v, err := sim.New(*sc.Sim, logger)
		if err != nil || sc.Publish == nil {
			return v, err
		}
		return &simPublisher{voyage: v, broker: b.Internal(), prefix: sc.Publish.TopicPrefix, clientID: "tally-sim-" + sc.ID, log: logger}, nil
	case "modbus":
		mc := *sc.Modbus
		return driverFunc(func(ctx context.Context, sink sensors.Sink) error {
			return serial.RunPort(ctx, *sc.Serial, func(ctx context.Context, p serial.Port) error {
				poller, err := modbus.New(mc, p, logger)
				if err != nil {
					return err
				}
				return poller.Run(ctx, sink)
			}, logger)
		}), nil
	default:
		return nil, fmt.Errorf("driver %q is not built into this tally", sc.Driver)
	}
}

// driverFunc adapts a function to the driver interface.
type driverFunc func(ctx context.Context, sink sensors.Sink) error

func (f driverFunc) Run(ctx context.Context, sink sensors.Sink) error { return f(ctx, sink) }

// LineDrivers are the drivers whose frames are text lines; `tally decode`
// takes these.
var LineDrivers = []string{"nmea", "eseal", "lines"}

// LineDecoder builds the decoder of a line driver for a configured sensor.
func LineDecoder(sc config.Sensor) (sensors.LineDecoder, error) {
	switch sc.Driver {
	case "nmea":
		o := nmea.Options{}
		if sc.NMEA != nil {
			o.AllowNoChecksum = sc.NMEA.AllowNoChecksum
		}
		return nmea.NewDecoder(sc.ID, o), nil
	case "eseal":
		c := eseal.Config{}
		if sc.ESeal != nil {
			c = *sc.ESeal
		}
		return eseal.NewDecoder(sc.ID, c)
	case "lines":
		if sc.Lines == nil {
			return nil, fmt.Errorf("driver lines needs a lines section (pattern, kind, fields): pass --config and --sensor")
		}
		return lines.New(sc.ID, *sc.Lines)
	}
	return nil, fmt.Errorf("driver %q does not decode text lines; line drivers: nmea, eseal, lines", sc.Driver)
}
