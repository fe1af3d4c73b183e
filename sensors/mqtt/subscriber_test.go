package mqtt

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/sensors"
)

// testConfig is the subscriber config the broker tests use.
func testConfig(b *broker, clientID string) Config {
	c := Config{
		Broker:       b.url,
		ClientID:     clientID,
		MaxPayload:   4096,
		ReconnectMin: 100 * time.Millisecond,
		ReconnectMax: time.Second,
		Topics: []Topic{
			{Filter: "reefer/+/temp", Sensor: "reefer-{1}", Decoder: DecoderTemperature, Container: "CSQU3054383"},
			{Filter: "yard/+/seal", Sensor: "seal-{1}", Decoder: DecoderSeal},
			{Filter: "tracker/+/nmea", Sensor: "gps-{1}", Decoder: DecoderNMEA},
			{Filter: "tracker/+/fix", Sensor: "fix-{1}", Decoder: DecoderGPS},
		},
	}
	c.SetDefaults()
	return c
}

// badMessages are bad input, each quarantined under sensor with class.
var badMessages = []struct {
	msg    testMsg
	sensor string
	class  string
}{
	{testMsg{topic: "reefer/1/temp", payload: `{"celsius":`}, "reefer-1", ClassJSON},
	{testMsg{topic: "reefer/1/temp", payload: `{"celsius":"hot"}`}, "reefer-1", ClassSchema},
	{testMsg{topic: "reefer/1/temp", payload: "{\"celsius\":4,\"probe\":\"\xff\xfe\"}"}, "reefer-1", ClassUTF8},
	{testMsg{topic: "reefer/1/temp", payload: `{"celsius":4,"extra":"` + strings.Repeat("x", 5000) + `"}`}, "reefer-1", ClassTooLarge},
	{testMsg{topic: "reefer/1/temp", payload: `{"celsius":500}`}, "reefer-1", ClassRange},
	{testMsg{topic: "reefer/1/temp", payload: `{"celsius":4,"container":"CSQU3054384"}`}, "reefer-1", ClassContainer},
	{testMsg{topic: "reefer/bad level/temp", payload: `{"celsius":4}`}, "mqtt:reefer/bad level/temp", ClassTopic},
	{testMsg{topic: "tracker/9/nmea", payload: "$GPGGA,garbage*00\r\n"}, "gps-9", ClassNMEA},
	{testMsg{topic: "tracker/9/fix", payload: `{"lat":91,"lon":0}`}, "fix-9", ClassRange},
	{testMsg{topic: "old/thing", payload: `{"celsius":4}`}, "mqtt:old/thing", ClassUnknownTopic},
}

// TestMosquitto is the whole flow against mosquitto: good and bad messages,
// topic-derived sensor ids, quarantine, acknowledgement, messages queued
// by the broker while the subscriber is away, nothing redelivered.
func TestMosquitto(t *testing.T) {
	testFlow(t, startMosquitto(t, ""), false)
}

// TestMochi is the same flow against the embedded mochi-mqtt broker, with
// a plain (not async) sink.
func TestMochi(t *testing.T) {
	testFlow(t, startMochi(t), true)
}

func testFlow(t *testing.T, b *broker, plainSink bool) {
	const clientID = "tally-test-flow"
	sinkFor := func(m *memSink) sensors.Sink {
		if plainSink {
			return syncSink{m}
		}
		return m
	}
	pub := newPublisher(t, b, "", "")

	// An earlier config subscribed to old/#: the broker keeps that
	// subscription in our session, so messages on old/... keep coming.
	old := testConfig(b, clientID)
	old.Topics = append(old.Topics, Topic{Filter: "old/#", Sensor: "old", Decoder: DecoderTemperature})
	sink0 := newMemSink(t)
	r0 := startSubscriber(t, old, sinkFor(sink0))
	r0.waitConnected()
	r0.stop()

	cfg := testConfig(b, clientID)
	sink := newMemSink(t)
	r := startSubscriber(t, cfg, sinkFor(sink))
	r.waitConnected()

	const n = 1000
	var good []testMsg
	for i := range n {
		good = append(good, tempMsg(i%10, i))
	}
	good = append(good,
		testMsg{topic: "yard/3/seal", payload: `{"seal_id":"ES-9","state":"Closed","msg_id":1}`},
		testMsg{topic: "tracker/5/fix", payload: `{"lat":51.9,"lon":4.05,"fix":"3d","time":"2026-03-01T12:00:00Z","clock":"gps"}`},
		testMsg{topic: "tracker/5/nmea", payload: nmeaEpoch(0)},
		testMsg{topic: "tracker/5/nmea", payload: nmeaEpoch(1)},
		testMsg{topic: "tracker/5/nmea", payload: nmeaEpoch(2)},
		// One epoch split over two messages: one reading.
		testMsg{topic: "tracker/6/nmea", payload: strings.SplitAfter(nmeaEpoch(3), "\n")[0]},
		testMsg{topic: "tracker/6/nmea", payload: strings.SplitAfter(nmeaEpoch(3), "\n")[1]},
	)
	pub.publish(good...)
	for _, bm := range badMessages {
		pub.publish(bm.msg)
	}
	total := len(good) + len(badMessages)
	wantReadings := n + 2 + 4 // temperatures, seal, fix, four NMEA epochs

	waitFor(t, 30*time.Second, "every reading and quarantine, every message acknowledged", func() bool {
		st := r.s.Stats()
		nr, nq := sink.count()
		return nr == wantReadings && nq == len(badMessages) && st.Acked == uint64(total) && st.InFlight == 0
	})
	readings, quarantine, dups := sink.snapshot()
	if dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	perSensor := map[string]int{}
	for _, rd := range readings {
		perSensor[rd.Sensor]++
		switch rd.Kind {
		case sensors.KindTemperature:
			id, _ := strconv.Atoi(rd.MsgID)
			want := tempMsg(id%10, id)
			if "reefer-"+strconv.Itoa(id%10) != rd.Sensor || string(rd.Raw) != want.payload || rd.Container != "CSQU3054383" {
				t.Errorf("temperature reading %+v; want sensor reefer-%d, raw %s, the configured container", rd, id%10, want.payload)
			}
		case sensors.KindSeal:
			if rd.Sensor != "seal-3" || rd.Data["state"] != sensors.SealSealed || rd.MsgID != "1" {
				t.Errorf("seal reading %+v", rd)
			}
		case sensors.KindGPS:
			if rd.Sensor != "gps-5" && rd.Sensor != "gps-6" && rd.Sensor != "fix-5" || rd.Clock != sensors.ClockGPS || rd.Time.IsZero() {
				t.Errorf("gps reading %+v", rd)
			}
		default:
			t.Errorf("reading of kind %s: %+v", rd.Kind, rd)
		}
	}
	for i := range 10 {
		if got := perSensor["reefer-"+strconv.Itoa(i)]; got != n/10 {
			t.Errorf("reefer-%d: %d readings, want %d", i, got, n/10)
		}
	}
	if perSensor["gps-5"] != 3 || perSensor["gps-6"] != 1 || perSensor["fix-5"] != 1 || perSensor["seal-3"] != 1 {
		t.Errorf("readings per sensor %v", perSensor)
	}

	st := r.s.Stats()
	for _, bm := range badMessages {
		i := slices.IndexFunc(quarantine, func(q quarantined) bool { return q.sensor == bm.sensor })
		if i < 0 {
			t.Errorf("nothing quarantined for %s (%s)", bm.sensor, bm.class)
			continue
		}
		if st.Quarantined[bm.class] == 0 {
			t.Errorf("class %s not counted: %v", bm.class, st.Quarantined)
		}
	}
	for _, q := range quarantine {
		if len(q.raw) > QuarantineRawMax || len(q.raw) == 0 || q.reason == "" {
			t.Errorf("quarantined %s: reason %q, %d raw bytes", q.sensor, q.reason, len(q.raw))
		}
		if !strings.HasPrefix(q.sensor, "mqtt:") && !strings.Contains(q.reason, "topic \"") {
			t.Errorf("reason %q does not name the topic", q.reason)
		}
	}
	if st.Messages != uint64(total) || st.Readings != uint64(wantReadings) || st.Refused != 0 || st.Connects != 1 {
		t.Errorf("stats %+v", st)
	}
	r.stop()

	// While the gateway is away the broker queues for its session.
	var away []testMsg
	for i := n; i < n+50; i++ {
		away = append(away, tempMsg(i%10, i))
	}
	pub.publish(away...)

	// After a restart: the queued messages, and nothing acknowledged before
	// comes again. The sentinel comes after anything redelivered.
	sink2 := newMemSink(t)
	r2 := startSubscriber(t, cfg, sinkFor(sink2))
	r2.waitConnected()
	pub.publish(testMsg{topic: "reefer/0/temp", payload: `{"celsius":1,"msg_id":"sentinel"}`})
	waitFor(t, 20*time.Second, "queued messages and the sentinel", func() bool {
		nr, _ := sink2.count()
		return nr >= len(away)+1
	})
	time.Sleep(200 * time.Millisecond) // anything more would come now
	readings2, quarantine2, _ := sink2.snapshot()
	if len(readings2) != len(away)+1 || len(quarantine2) != 0 {
		t.Errorf("after restart: %d readings, %d quarantined; want %d and 0 (acknowledged messages came again?)", len(readings2), len(quarantine2), len(away)+1)
	}
	for _, rd := range readings2 {
		if id, err := strconv.Atoi(rd.MsgID); err == nil && id < n {
			t.Errorf("message %d was acknowledged before the restart and came again", id)
		}
	}
}

// TestManualAck proves that a message whose reading the sink refused is
// not acknowledged: after a restart with the same client id the broker
// redelivers exactly those, and they are accepted.
func TestManualAck(t *testing.T) {
	for _, b := range []*broker{startMosquitto(t, ""), startMochi(t)} {
		t.Run(b.name, func(t *testing.T) {
			cfg := testConfig(b, "tally-test-ack-"+b.name)
			cfg.ReconnectMin = time.Minute // no reconnect to get them back within this test
			cfg.ReconnectMax = time.Minute
			pub := newPublisher(t, b, "", "")

			refuse := func(rd sensors.Reading) bool {
				id, _ := strconv.Atoi(rd.MsgID)
				return id%10 == 3
			}
			sink := newMemSink(t)
			sink.refuse = func(rd sensors.Reading) error {
				if refuse(rd) {
					return errors.New("disk full")
				}
				return nil
			}
			r := startSubscriber(t, cfg, sink)
			r.waitConnected()
			const n = 200
			var msgs []testMsg
			for i := range n {
				msgs = append(msgs, tempMsg(i%4, i))
			}
			pub.publish(msgs...)
			waitFor(t, 20*time.Second, "all answered", func() bool {
				st := r.s.Stats()
				return st.Readings == n-n/10 && st.Refused == n/10 && st.InFlight == 0
			})
			if st := r.s.Stats(); st.Acked != n-n/10 || !strings.Contains(st.LastError, "disk full") {
				t.Errorf("stats %+v; want %d acknowledged and the refusal as last error", st, n-n/10)
			}
			r.stop()

			sink2 := newMemSink(t)
			r2 := startSubscriber(t, cfg, sink2)
			waitFor(t, 20*time.Second, "refused messages redelivered", func() bool {
				nr, _ := sink2.count()
				return nr >= n/10
			})
			time.Sleep(300 * time.Millisecond)
			got, _, _ := sink2.snapshot()
			var ids []string
			for _, rd := range got {
				if !refuse(rd) {
					t.Errorf("message %s was acknowledged but came again", rd.MsgID)
				}
				ids = append(ids, rd.MsgID)
			}
			if len(got) != n/10 {
				t.Errorf("redelivered %d messages %v, want the %d refused ones", len(got), ids, n/10)
			}
			waitFor(t, 10*time.Second, "redelivered messages acknowledged", func() bool {
				return r2.s.Stats().Acked == uint64(n/10)
			})
		})
	}
}

// TestRedeliverWhileRunning: readings the sink refused come back without a
// restart (the subscriber reconnects so that the broker redelivers them).
func TestRedeliverWhileRunning(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := testConfig(b, "tally-test-redeliver")
	pub := newPublisher(t, b, "", "")
	var refusals atomic.Int32
	sink := newMemSink(t)
	sink.refuse = func(sensors.Reading) error {
		if refusals.Add(1) <= 5 {
			return errors.New("store closed")
		}
		return nil
	}
	r := startSubscriber(t, cfg, sink)
	r.waitConnected()
	var msgs []testMsg
	for i := range 50 {
		msgs = append(msgs, tempMsg(i%5, i))
	}
	pub.publish(msgs...)
	waitFor(t, 30*time.Second, "all 50 accepted", func() bool {
		rs, _, _ := sink.snapshot()
		return len(rs) == 50
	})
	st := r.s.Stats()
	if st.Refused != 5 || st.Connects < 2 {
		t.Errorf("stats %+v: want 5 refused and a reconnect", st)
	}
	if !strings.Contains(r.log.String(), "reconnecting so that the broker redelivers") {
		t.Errorf("no log line about the redelivery reconnect")
	}
}

// TestBrokerRefuses: a broker that wants a password says so, and the log
// says what to check; the right password from password_file works.
func TestBrokerRefuses(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", passwd, "gw", "right-secret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s (install it: %s)", err, out, mosquittoInstall)
	}
	b := startMosquitto(t, "allow_anonymous false\npassword_file "+passwd+"\n")

	for _, tc := range []struct {
		name, user, password string
	}{
		{"wrong password", "gw", "wrong"},
		{"unknown user", "nobody", "x"},
		{"anonymous", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(b, "tally-test-auth")
			cfg.Username = tc.user
			if tc.password != "" {
				cfg.PasswordFile = writePassword(t, tc.password)
			}
			r := startSubscriber(t, cfg, newMemSink(t))
			waitFor(t, 10*time.Second, "a refusal in the log", func() bool {
				return strings.Contains(r.log.String(), "the broker refused the connection")
			})
			log := r.log.String()
			line := log[strings.Index(log, "the broker refused the connection"):]
			line = line[:strings.IndexByte(line, '\n')]
			if !strings.Contains(line, "not authorised") && !strings.Contains(line, "bad username or password") || !strings.Contains(line, "check=") {
				t.Errorf("log line %q: want the CONNACK reason and what to check", line)
			}
			if tc.user != "" && !strings.Contains(line, "password_file") {
				t.Errorf("log line %q does not point at password_file", line)
			}
			if tc.user == "" && !strings.Contains(line, "set username and password_file") {
				t.Errorf("log line %q does not say to set username", line)
			}
			t.Logf("%s", line)
			st := r.s.Stats()
			if st.Connected || st.Connects != 0 || !strings.Contains(st.LastError, "CONNACK") {
				t.Errorf("stats %+v", st)
			}
			r.stop()
		})
	}

	t.Run("right password", func(t *testing.T) {
		cfg := testConfig(b, "tally-test-auth")
		cfg.Username = "gw"
		cfg.PasswordFile = writePassword(t, "right-secret")
		sink := newMemSink(t)
		r := startSubscriber(t, cfg, sink)
		r.waitConnected()
		newPublisher(t, b, "gw", "right-secret").publish(tempMsg(1, 1))
		waitFor(t, 10*time.Second, "the reading", func() bool {
			nr, _ := sink.count()
			return nr == 1
		})
	})
}

// TestConnectionRefusedLog: nothing listens; the log says where to look.
func TestConnectionRefusedLog(t *testing.T) {
	b := &broker{url: "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))}
	r := startSubscriber(t, testConfig(b, "tally-test-nobroker"), newMemSink(t))
	waitFor(t, 10*time.Second, "a log line", func() bool {
		return strings.Contains(r.log.String(), "cannot connect to the broker")
	})
	if log := r.log.String(); !strings.Contains(log, "connection refused") || !strings.Contains(log, "that the broker runs and listens on 127.0.0.1:") {
		t.Errorf("log:\n%s", log)
	}
	start := time.Now()
	r.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop took %v while reconnecting", d)
	}
}

// TestInflightBound: with a sink that does not answer, the subscriber
// stops at max_inflight messages and starts no goroutine per message;
// once the sink answers everything arrives.
func TestInflightBound(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := testConfig(b, "tally-test-inflight")
	cfg.MaxInflight = 20
	pub := newPublisher(t, b, "", "")
	sink := newMemSink(t)
	sink.hold = make(chan struct{})
	r := startSubscriber(t, cfg, sink)
	r.waitConnected()
	before := runtime.NumGoroutine()
	const n = 500
	var msgs []testMsg
	for i := range n {
		msgs = append(msgs, tempMsg(i%10, i))
	}
	pub.publish(msgs...)
	waitFor(t, 10*time.Second, "20 in flight", func() bool { return r.s.Stats().InFlight == 20 })
	time.Sleep(300 * time.Millisecond)
	if st := r.s.Stats(); st.InFlight != 20 || st.Messages > 21+1 {
		t.Errorf("with the sink stalled: %+v; want 20 in flight and no more taken", st)
	}
	if g := runtime.NumGoroutine(); g > before+20 {
		t.Errorf("%d goroutines, %d before publishing", g, before)
	}
	go func() {
		for range n {
			sink.hold <- struct{}{}
		}
	}()
	waitFor(t, 30*time.Second, "all readings", func() bool {
		nr, _ := sink.count()
		return nr == n && r.s.Stats().Acked == n
	})
}

// TestRetained: a retained message, sent again on every subscribe, is
// skipped unless accept_retained is on.
func TestRetained(t *testing.T) {
	b := startMochi(t)
	pub := newPublisher(t, b, "", "")
	pub.publish(testMsg{topic: "reefer/4/temp", payload: `{"celsius":3,"msg_id":"r"}`, retain: true})
	for _, accept := range []bool{false, true} {
		t.Run(fmt.Sprint("accept_retained=", accept), func(t *testing.T) {
			cfg := testConfig(b, fmt.Sprint("tally-test-retained-", accept))
			cfg.AcceptRetained = accept
			sink := newMemSink(t)
			r := startSubscriber(t, cfg, sink)
			waitFor(t, 10*time.Second, "the retained message answered", func() bool {
				return r.s.Stats().Acked == 1
			})
			nr, _ := sink.count()
			if st := r.s.Stats(); accept && (nr != 1 || st.Retained != 0) || !accept && (nr != 0 || st.Retained != 1) {
				t.Errorf("%d readings, stats %+v", nr, st)
			}
		})
	}
}

// TestBrokerRestart: the broker goes away with messages in flight (the sink
// has not answered yet) and comes back; the subscriber reconnects, the
// broker redelivers those messages, and they are joined to the copies in
// flight instead of decoded again, so readings without msg_id are not
// recorded twice. Messages queued meanwhile arrive too.
func TestBrokerRestart(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := testConfig(b, "tally-test-restart")
	sink := newMemSink(t)
	sink.hold = make(chan struct{})
	r := startSubscriber(t, cfg, sink)
	r.waitConnected()
	pub := newPublisher(t, b, "", "")
	const n = 5
	for i := range n {
		pub.publish(testMsg{topic: "reefer/1/temp", payload: fmt.Sprintf(`{"celsius":%d}`, i)}) // no msg_id
	}
	waitFor(t, 10*time.Second, "5 in flight", func() bool { return r.s.Stats().InFlight == n })

	b.restart()
	waitFor(t, 20*time.Second, "reconnected and redelivered", func() bool {
		st := r.s.Stats()
		return st.Connects == 2 && st.Connected && st.Redelivered == n
	})
	if !strings.Contains(r.log.String(), "connection lost") {
		t.Errorf("no log line about the lost connection")
	}
	pub = newPublisher(t, b, "", "")
	pub.publish(testMsg{topic: "reefer/2/temp", payload: `{"celsius":20}`})
	go func() {
		for range n + 1 {
			sink.hold <- struct{}{}
		}
	}()
	waitFor(t, 10*time.Second, "all answered", func() bool {
		nr, _ := sink.count()
		return nr == n+1 && r.s.Stats().InFlight == 0
	})
	time.Sleep(200 * time.Millisecond)
	if nr, _ := sink.count(); nr != n+1 {
		t.Errorf("%d readings, want %d (a redelivery decoded twice?)", nr, n+1)
	}
	r.stop()

	// Acknowledged on the new connection: nothing comes again.
	sink2 := newMemSink(t)
	r2 := startSubscriber(t, cfg, sink2)
	r2.waitConnected()
	pub.publish(testMsg{topic: "reefer/0/temp", payload: `{"celsius":1,"msg_id":"sentinel"}`})
	waitFor(t, 10*time.Second, "the sentinel", func() bool {
		nr, _ := sink2.count()
		return nr >= 1
	})
	time.Sleep(200 * time.Millisecond)
	if nr, _ := sink2.count(); nr != 1 {
		t.Errorf("after restart %d readings, want only the sentinel", nr)
	}
}

// TestQoS2: a QoS 2 subscription; PUBREC is sent once the reading is
// stored, and nothing comes again after a restart.
func TestQoS2(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := testConfig(b, "tally-test-qos2")
	q := 2
	cfg.QoS = &q
	sink := newMemSink(t)
	r := startSubscriber(t, cfg, sink)
	r.waitConnected()
	pub := newPublisher(t, b, "", "")
	const n = 100
	toks := make([]paho.Token, n)
	for i := range n {
		m := tempMsg(i%3, i)
		toks[i] = pub.c.Publish(m.topic, 2, false, []byte(m.payload))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	waitFor(t, 10*time.Second, "all acknowledged", func() bool {
		nr, _ := sink.count()
		return nr == n && r.s.Stats().Acked == n
	})
	r.stop()
	sink2 := newMemSink(t)
	r2 := startSubscriber(t, cfg, sink2)
	r2.waitConnected()
	pub.publish(testMsg{topic: "reefer/0/temp", payload: `{"celsius":1,"msg_id":"sentinel"}`})
	waitFor(t, 10*time.Second, "the sentinel", func() bool {
		nr, _ := sink2.count()
		return nr >= 1
	})
	time.Sleep(200 * time.Millisecond)
	if nr, _ := sink2.count(); nr != 1 {
		t.Errorf("after restart %d readings, want only the sentinel", nr)
	}
}

// TestExplainConnect covers the CONNACK codes no test broker sends.
func TestExplainConnect(t *testing.T) {
	cfg := testConfig(&broker{url: "tcp://10.0.0.5:1883"}, "tally-gw")
	cfg.Username = "gw"
	for code, want := range map[byte]string{
		1: "unacceptable protocol version (CONNACK 1)",
		2: "identifier rejected (CONNACK 2)",
		3: "server unavailable (CONNACK 3)",
		4: "bad username or password (CONNACK 4)",
		5: "not authorised (CONNACK 5)",
	} {
		reason, check, refused := explainConnect(&connectError{code: code, err: errors.New("x")}, cfg)
		if reason != want || check == "" || !refused {
			t.Errorf("code %d: %q, %q, %v", code, reason, check, refused)
		}
	}
	if _, check, _ := explainConnect(&connectError{code: 4, err: errors.New("x")}, cfg); !strings.Contains(check, "password_file") {
		t.Errorf("code 4: check %q", check)
	}
	if _, check, _ := explainConnect(&connectError{code: 2, err: errors.New("x")}, cfg); !strings.Contains(check, `"tally-gw"`) {
		t.Errorf("code 2: check %q", check)
	}
}
