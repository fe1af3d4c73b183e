package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/sim"
)

// simPublisher runs the simulated voyage as MQTT sensors would: every
// reading is published as JSON (docs/MQTT.md) to the embedded broker, QoS 1,
// on <prefix>/<sensor>/<kind>, and reaches the log through the daemon's own
// subscriber.
type simPublisher struct {
	voyage   *sim.Voyage
	broker   broker.Credentials
	prefix   string
	clientID string
	log      *slog.Logger
	client   paho.Client
}

func (p *simPublisher) Run(ctx context.Context, _ sensors.Sink) error {
	o := paho.NewClientOptions().AddBroker(p.broker.URL).SetClientID(p.clientID).
		SetUsername(p.broker.Username).SetPassword(p.broker.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	p.client = paho.NewClient(o)
	tok := p.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("simulator: connect to the embedded broker: %w", err)
		}
	case <-ctx.Done():
		return nil
	}
	defer p.client.Disconnect(250)
	return p.voyage.Run(ctx, p)
}

// Accept publishes r and waits for the broker's PUBACK.
func (p *simPublisher) Accept(ctx context.Context, r sensors.Reading) error {
	payload, err := json.Marshal(sensors.Fields(r))
	if err != nil {
		return err
	}
	tok := p.client.Publish(fmt.Sprintf("%s/%s/%s", p.prefix, r.Sensor, r.Kind), 1, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Quarantine: the simulator produces no undecodable input.
func (p *simPublisher) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	p.log.Warn("simulator quarantine", "sensor", sensor, "reason", reason)
}
