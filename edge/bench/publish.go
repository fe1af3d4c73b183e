package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PublishConfig is what one set of publishers does. A parent bench hands it
// to a child process as one JSON line on its stdin.
type PublishConfig struct {
	Broker      string        `json:"broker"`       // tcp://host:port
	TopicPrefix string        `json:"topic_prefix"` // publisher i sends to <prefix>/<i>/temp
	ClientID    string        `json:"client_id"`    // publisher i connects as <client_id>-<i>
	Publishers  int           `json:"publishers"`
	Rate        float64       `json:"rate"` // messages/s over all publishers; 0: as fast as the broker takes them
	Duration    time.Duration `json:"duration"`
	QoS         byte          `json:"qos"`
	// Confirm bounds the wait for the broker's acknowledgements of the
	// messages still unconfirmed when Duration is over.
	Confirm time.Duration `json:"confirm"`
}

// PublishResult is what the publishers did.
type PublishResult struct {
	Start       time.Time     `json:"start"`       // when the first message could go (all publishers connected)
	Sent        uint64        `json:"sent"`        // messages handed to the client within Duration
	Confirmed   uint64        `json:"confirmed"`   // acknowledged by the broker (PUBACK; QoS 0: written)
	Failed      uint64        `json:"failed"`      // refused or lost with the connection
	Unconfirmed uint64        `json:"unconfirmed"` // no acknowledgement within Confirm
	Error       string        `json:"error,omitempty"`
	CPU         time.Duration `json:"cpu"` // CPU time of the publishing process (child process only)
}

// publishWindow bounds the messages one publisher has sent and the broker
// has not acknowledged yet (MQTT packet ids are 16 bits).
const publishWindow = 1000

// Publish connects cfg.Publishers paho clients, calls started once all are
// connected, and publishes numbered temperature messages (docs/MQTT.md,
// with msg_id and the send time as the sensor's time) for cfg.Duration.
// It then waits at most cfg.Confirm for the broker's acknowledgements.
func Publish(ctx context.Context, cfg PublishConfig, started func(time.Time)) (PublishResult, error) {
	if cfg.Publishers < 1 {
		return PublishResult{}, errors.New("publishers: at least 1")
	}
	clients := make([]paho.Client, cfg.Publishers)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Disconnect(250)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i := range clients {
		wg.Go(func() {
			o := paho.NewClientOptions().AddBroker(cfg.Broker).SetClientID(cfg.ClientID + "-" + strconv.Itoa(i)).
				SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
				SetConnectTimeout(10 * time.Second)
			c := paho.NewClient(o)
			tok := c.Connect()
			if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
				errs[i] = fmt.Errorf("publisher %d: connect to %s: %v", i, cfg.Broker, tokErr(tok))
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return PublishResult{}, err
	}
	start := time.Now()
	res := PublishResult{Start: start}
	started(start)
	var sent, confirmed, failed, unconfirmed atomic.Uint64
	var firstErr atomic.Pointer[string]
	deadline := start.Add(cfg.Duration)
	confirmBy := deadline.Add(cfg.Confirm)
	perRate := cfg.Rate / float64(cfg.Publishers)
	for i, c := range clients {
		wg.Go(func() {
			topic := cfg.TopicPrefix + "/" + strconv.Itoa(i) + "/temp"
			window := make(chan paho.Token, publishWindow)
			var waiter sync.WaitGroup
			waiter.Go(func() {
				for tok := range window {
					switch {
					case !waitUntil(ctx, tok, confirmBy):
						unconfirmed.Add(1)
					case tok.Error() != nil:
						failed.Add(1)
						msg := tok.Error().Error()
						firstErr.CompareAndSwap(nil, &msg)
					default:
						confirmed.Add(1)
					}
				}
			})
			defer waiter.Wait()
			defer close(window)
			for k := 0; ; k++ {
				if perRate > 0 {
					at := start.Add(time.Duration(float64(k) / perRate * float64(time.Second)))
					if d := time.Until(at); d > 0 {
						if !at.Before(deadline) || !sleepCtx(ctx, d) {
							return
						}
					}
				}
				now := time.Now()
				if !now.Before(deadline) || ctx.Err() != nil {
					return
				}
				tok := c.Publish(topic, cfg.QoS, false, payload(k, now))
				sent.Add(1)
				select {
				case window <- tok: // blocks while publishWindow messages are unconfirmed
				case <-ctx.Done():
					unconfirmed.Add(1)
					return
				}
			}
		})
	}
	wg.Wait()
	res.Sent, res.Confirmed, res.Failed, res.Unconfirmed = sent.Load(), confirmed.Load(), failed.Load(), unconfirmed.Load()
	if p := firstErr.Load(); p != nil {
		res.Error = *p
	}
	return res, ctx.Err()
}

// payload is a temperature message (docs/MQTT.md) carrying the send time,
// to the nanosecond, as the sensor's own time.
func payload(k int, now time.Time) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"celsius":`...)
	b = strconv.AppendFloat(b, float64(k%400-200)/10, 'f', 1, 64)
	b = append(b, `,"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","msg_id":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	return append(b, '}')
}

// waitUntil waits for tok until the deadline or until ctx is done; it
// reports whether tok completed.
func waitUntil(ctx context.Context, tok paho.Token, deadline time.Time) bool {
	select {
	case <-tok.Done():
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-tok.Done():
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func tokErr(tok paho.Token) error {
	if err := tok.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// publisherEvent is one line a publisher child process writes on stdout.
type publisherEvent struct {
	Event    string         `json:"event"` // "start", then "done"
	UnixNano int64          `json:"unix_nano,omitempty"`
	Result   *PublishResult `json:"result,omitempty"`
}

// ServePublisher is the child side of separate publishers (tally bench
// --publish-only): it reads a PublishConfig as the first line of stdin,
// publishes, and writes a "start" and a "done" event as JSON lines on
// stdout. It stops early when stdin closes (the parent went away).
func ServePublisher(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("publisher: read the configuration from stdin: %w", err)
	}
	var cfg PublishConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("publisher: configuration on stdin: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()
	enc := json.NewEncoder(stdout)
	var encErr error
	res, err := Publish(ctx, cfg, func(t time.Time) {
		encErr = enc.Encode(publisherEvent{Event: "start", UnixNano: t.UnixNano()})
	})
	if err != nil {
		return err
	}
	if encErr != nil {
		return encErr
	}
	res.CPU, _ = cpuTime("self")
	return enc.Encode(publisherEvent{Event: "done", Result: &res})
}

// publishers are publishers running for one phase, in this process or in a
// child.
type publishers struct {
	started chan time.Time      // receives the start time once
	done    chan publishOutcome // receives the outcome once
	stop    func()              // ends them and waits; safe to call more than once
}

type publishOutcome struct {
	res PublishResult
	err error
}

// startPublishers starts publishers for cfg: in a child process running
// command when it is set (ServePublisher on the other side), else in this
// process.
func startPublishers(ctx context.Context, cfg PublishConfig, command []string) (*publishers, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &publishers{started: make(chan time.Time, 1), done: make(chan publishOutcome, 1)}
	finished := make(chan struct{})
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-finished
		})
	}
	if len(command) == 0 {
		go func() {
			defer close(finished)
			res, err := Publish(ctx, cfg, func(t time.Time) { p.started <- t })
			p.done <- publishOutcome{res, err}
		}()
		return p, nil
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stderr := &limitedBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start the publisher process %s: %w", command[0], err)
	}
	line, _ := json.Marshal(cfg)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		cancel()
		cmd.Wait()
		return nil, fmt.Errorf("publisher process: %w: %s", err, stderr.String())
	}
	go func() {
		defer close(finished)
		defer stdin.Close()
		var done *PublishResult
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev publisherEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue
			}
			switch {
			case ev.Event == "start":
				p.started <- time.Unix(0, ev.UnixNano)
			case ev.Event == "done" && ev.Result != nil:
				done = ev.Result
			}
		}
		err := cmd.Wait()
		if done == nil {
			if err == nil {
				err = errors.New("exited without a result")
			}
			p.done <- publishOutcome{err: fmt.Errorf("publisher process: %w: %s", err, stderr.String())}
			return
		}
		p.done <- publishOutcome{res: *done}
	}()
	return p, nil
}
