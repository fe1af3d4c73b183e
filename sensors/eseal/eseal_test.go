package eseal

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
)

// capture holds real seal messages with the vendor's layout in its header.
const capture = "../../../shared/testdata/eseal/eseal_messages.txt"

const startupConfig = "180,30,30,16,1"

var recv = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// want is what one captured line must decode to.
type want struct {
	msg     Message
	reading *sensors.Reading // nil for a reply
	ack     string           // Message.Ack and Decoder.AckFor without a startup config
	ackCfg  string           // Decoder.AckFor with startupConfig
}

var captured = map[string]want{
	"##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##": {
		msg: Message{
			DeviceType: "eSeal", DeviceID: "1000821", CustomerID: "256", Firmware: "3.0.6",
			Type: "Normal", Report: true, Index: 34,
			DeviceTime: "2017-08-31 08:14:40", Time: time.Date(2017, 8, 31, 8, 14, 40, 0, time.UTC),
			Interval: 15, GPSValid: true, Lat: 25.708828, Lon: -100.372870,
			CourseDeg: 10, SpeedKPH: 0, Door: "Close", Accel: 0.71, NFC: "0:0:3:0",
			BatteryV: 3.8, RSSI: -73,
		},
		reading: &sensors.Reading{
			Sensor: "seal-1", Kind: "seal",
			Time: time.Date(2017, 8, 31, 8, 14, 40, 0, time.UTC), Clock: "device",
			MsgID: "1000821:34:2017-08-31T08:14:40",
			Data: map[string]any{
				"seal_id": "1000821", "state": "sealed", "event": "Normal", "index": int64(34),
				"battery_v": 3.8, "rssi": int64(-73), "door": "Close", "nfc": "0:0:3:0",
				"accel": 0.71, "gps_valid": true,
				"lat": 25.708828, "lon": -100.372870, "speed_mps": 0.0, "course_deg": 10.0,
			},
		},
		ack:    "##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n",
		ackCfg: "##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n",
	},
	"##S,eSeal,1000821,256,3.0.6,Startup,1,2017-08-31,02:01:19,3,V,0.000000N 0.000000E,0,0,Close,3.25,0:0:5:0,3.8,-93,E##": {
		msg: Message{
			DeviceType: "eSeal", DeviceID: "1000821", CustomerID: "256", Firmware: "3.0.6",
			Type: "Startup", Report: true, Index: 1,
			DeviceTime: "2017-08-31 02:01:19", Time: time.Date(2017, 8, 31, 2, 1, 19, 0, time.UTC),
			Interval: 3, GPSValid: false, Door: "Close", Accel: 3.25, NFC: "0:0:5:0",
			BatteryV: 3.8, RSSI: -93,
		},
		reading: &sensors.Reading{
			Sensor: "seal-1", Kind: "seal",
			Time: time.Date(2017, 8, 31, 2, 1, 19, 0, time.UTC), Clock: "device",
			MsgID: "1000821:1:2017-08-31T02:01:19",
			Data: map[string]any{
				"seal_id": "1000821", "state": "sealed", "event": "Startup", "index": int64(1),
				"battery_v": 3.8, "rssi": int64(-93), "door": "Close", "nfc": "0:0:5:0",
				"accel": 3.25, "gps_valid": false,
			},
		},
		ack:    "##S,eSeal,1000821,256,3.0.6,Startup ACK,1,E##\r\n",
		ackCfg: "##S,eSeal,1000821,256,3.0.6,Startup ACK,1,180,30,30,16,1,E##\r\n",
	},
	"##S,eSeal,1000821,256,3.0.6,Startup OK,1,180,30,30,16,1,E##": {
		msg: Message{
			DeviceType: "eSeal", DeviceID: "1000821", CustomerID: "256", Firmware: "3.0.6",
			Type: "Startup OK", Args: []string{"1", "180", "30", "30", "16", "1"},
		},
	},
	"##S,eSeal,1000898,256,3.0.6,Normal,6,2017-09-06,23:48:39,3,V,0.000000N 0.000000E,0,0,Close,1.0,0:0:3:0,4.0,-81,E##": {
		msg: Message{
			DeviceType: "eSeal", DeviceID: "1000898", CustomerID: "256", Firmware: "3.0.6",
			Type: "Normal", Report: true, Index: 6,
			DeviceTime: "2017-09-06 23:48:39", Time: time.Date(2017, 9, 6, 23, 48, 39, 0, time.UTC),
			Interval: 3, Door: "Close", Accel: 1.0, NFC: "0:0:3:0", BatteryV: 4.0, RSSI: -81,
		},
		reading: &sensors.Reading{
			Sensor: "seal-1", Kind: "seal",
			Time: time.Date(2017, 9, 6, 23, 48, 39, 0, time.UTC), Clock: "device",
			MsgID: "1000898:6:2017-09-06T23:48:39",
			Data: map[string]any{
				"seal_id": "1000898", "state": "sealed", "event": "Normal", "index": int64(6),
				"battery_v": 4.0, "rssi": int64(-81), "door": "Close", "nfc": "0:0:3:0",
				"accel": 1.0, "gps_valid": false,
			},
		},
		ack:    "##S,eSeal,1000898,256,3.0.6,Normal ACK,6,E##\r\n",
		ackCfg: "##S,eSeal,1000898,256,3.0.6,Normal ACK,6,E##\r\n",
	},
	"##S,eSeal,1000898,256,3.0.6,RC-NFC DEL ACK,,E##": {
		msg: Message{
			DeviceType: "eSeal", DeviceID: "1000898", CustomerID: "256", Firmware: "3.0.6",
			Type: "RC-NFC DEL ACK", Args: []string{""},
		},
	},
}

// captureLines returns the message lines of the capture file.
func captureLines(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(capture)
	if err != nil {
		t.Fatalf("open capture (shared test data, see testdata/README.md): %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "##S") {
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("capture holds no messages")
	}
	return lines
}

func TestCapture(t *testing.T) {
	plain, err := NewDecoder("seal-1", Config{})
	if err != nil {
		t.Fatal(err)
	}
	withCfg, err := NewDecoder("seal-1", Config{StartupConfig: startupConfig})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var replies uint64
	for _, line := range captureLines(t) {
		w, ok := captured[line]
		if !ok {
			t.Errorf("capture line has no expectation in this test: %s", line)
			continue
		}
		seen[line] = true
		t.Run(w.msg.DeviceID+"/"+w.msg.Type, func(t *testing.T) {
			m, err := Parse([]byte(line))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(m, w.msg) {
				t.Errorf("Parse:\n got %+v\nwant %+v", m, w.msg)
			}
			if got := string(m.Ack()); got != w.ack {
				t.Errorf("Ack = %q, want %q", got, w.ack)
			}
			// The seal ends lines with CRLF; Parse takes them or not.
			if m2, err := Parse([]byte(line + "\r\n")); err != nil || !reflect.DeepEqual(m2, m) {
				t.Errorf("Parse with CRLF = %+v, %v", m2, err)
			}

			rs, err := plain.Decode([]byte(line), recv)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if w.reading == nil {
				replies++
				if len(rs) != 0 {
					t.Fatalf("Decode of a reply = %+v, want no reading", rs)
				}
				return
			}
			if len(rs) != 1 {
				t.Fatalf("Decode = %d readings, want 1", len(rs))
			}
			wr := *w.reading
			wr.Raw = []byte(line)
			if !reflect.DeepEqual(rs[0], wr) {
				t.Errorf("Decode:\n got %+v\nwant %+v", rs[0], wr)
			}
			if got := string(plain.AckFor(rs[0])); got != w.ack {
				t.Errorf("AckFor = %q, want %q", got, w.ack)
			}
			if got := string(withCfg.AckFor(rs[0])); got != w.ackCfg {
				t.Errorf("AckFor with startup config = %q, want %q", got, w.ackCfg)
			}
		})
	}
	for line := range captured {
		if !seen[line] {
			t.Errorf("expected line not in capture: %s", line)
		}
	}
	if got := plain.Ignored(); got != replies {
		t.Errorf("Ignored = %d, want %d", got, replies)
	}
}

// base is a valid report that the tables below alter.
const base = "##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##"

// withField returns base with field i replaced by v.
func withField(i int, v string) string {
	f := strings.Split(base, ",")
	f[i] = v
	return strings.Join(f, ",")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, line, reason string
	}{
		{"empty", "", `missing "##S,"`},
		{"no start", strings.TrimPrefix(base, "##S,"), `missing "##S,"`},
		{"garbage before start", "x" + base, `missing "##S,"`},
		{"no end", strings.TrimSuffix(base, ",E##"), `missing ",E##"`},
		{"truncated", base[:60], `missing ",E##"`},
		{"frame only", "##S,E##", "too few"},
		{"short", "##S,eSeal,1,E##", "too few"},
		{"non-ASCII", strings.Replace(base, "Close", "Clöse", 1), "not printable ASCII"},
		{"control byte", strings.Replace(base, "Close", "Cl\x00se", 1), "byte 0x00 at offset"},
		{"invalid UTF-8", strings.Replace(base, "Close", "Cl\xffse", 1), "byte 0xff"},
		{"CR inside", strings.Replace(base, "Close", "Cl\rse", 1), "byte 0x0d"},
		{"missing field", strings.Replace(base, ",0:0:3:0", "", 1), "has 19 fields, want 20"},
		{"extra field", strings.Replace(base, ",E##", ",1,E##", 1), "has 21 fields, want 20"},
		{"empty device type", withField(fDevType, ""), "empty device type"},
		{"bad device id", withField(fDevID, "10:21"), `device id "10:21"`},
		{"empty device id", withField(fDevID, ""), `device id ""`},
		{"empty type", withField(fType, ""), "empty message type"},
		{"bad index", withField(fIndex, "3x"), `index "3x" is not a sequence number`},
		{"negative index", withField(fIndex, "-3"), `index "-3"`},
		{"empty index", withField(fIndex, ""), `index ""`},
		{"index overflow", withField(fIndex, "99999999999999999999"), "index"},
		{"bad interval", withField(fInterval, "fifteen"), "interval"},
		{"bad validity", withField(fValid, "X"), `gps validity "X" is not A or V`},
		{"no space in position", withField(fPosition, "25.708828N100.372870W"), "position"},
		{"latitude over 90", withField(fPosition, "95.0N 100.0W"), "beyond 90"},
		{"longitude over 180", withField(fPosition, "25.0N 180.5W"), "beyond 180"},
		{"bad hemisphere", withField(fPosition, "25.0E 100.0W"), "does not end in N or S"},
		{"lon hemisphere", withField(fPosition, "25.0N 100.0N"), "does not end in E or W"},
		{"signed latitude", withField(fPosition, "-25.0N 100.0W"), "latitude"},
		{"NaN latitude", withField(fPosition, "NaNN 100.0W"), "latitude"},
		{"Inf longitude", withField(fPosition, "25.0N InfW"), "longitude"},
		{"exponent", withField(fPosition, "2e1N 100.0W"), "latitude"},
		{"empty coordinates", withField(fPosition, " "), "latitude"},
		{"bad course", withField(fCourse, "north"), "course"},
		{"course over 360", withField(fCourse, "361"), "course"},
		{"bad speed", withField(fSpeed, "1.5"), "speed"},
		{"bad accel", withField(fAccel, "0.7.1"), "acceleration"},
		{"bad battery", withField(fBattery, "3,8"), "fields"},
		{"battery NaN", withField(fBattery, "NaN"), "battery"},
		{"negative battery", withField(fBattery, "-3.8"), "battery"},
		{"bad rssi", withField(fRSSI, "-7x"), "rssi"},
		{"rssi out of range", withField(fRSSI, "-1000"), "rssi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.line))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error containing %q", tt.line, m, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.line, err, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "eseal: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			d, _ := NewDecoder("s", Config{})
			rs, derr := d.Decode([]byte(tt.line), recv)
			if derr == nil || len(rs) != 0 {
				t.Errorf("Decode = %v, %v; want the Parse error", rs, derr)
			}
		})
	}
}

func TestUnparseableDateKeepsReading(t *testing.T) {
	d, _ := NewDecoder("s", Config{})
	line := withField(fDate, "0000-00-00")
	rs, err := d.Decode([]byte(line), recv)
	if err != nil || len(rs) != 1 {
		t.Fatalf("Decode = %v, %v", rs, err)
	}
	if !rs[0].Time.IsZero() || rs[0].Clock != "" {
		t.Errorf("Time, Clock = %v, %q; want zero and empty", rs[0].Time, rs[0].Clock)
	}
	if want := "1000821:34:0000-00-00T08:14:40"; rs[0].MsgID != want {
		t.Errorf("MsgID = %q, want %q", rs[0].MsgID, want)
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		typ, door, want string
	}{
		{"Normal", "Close", "sealed"},
		{"Normal", "Open", "opened"},
		{"Normal", "Ajar", "unknown"},
		{"Normal", "", "unknown"},
		{"Event-Door", "Open", "opened"},
		{"Event-Door", "Close", "sealed"},
		{"Event-Lock", "Close", "sealed"},
		{"Event-RC-Unlock", "Open", "opened"},
		{"Event-Shock", "Close", "sealed"},
		{"Event-Drop", "Open", "opened"},
		{"Event-Tamper", "Close", "tampered"},
		{"Event-Cut", "Close", "tampered"},
		{"Event-Wire-Cut", "Open", "tampered"},
		{"Event-WireCut", "Close", "tampered"},
		{"Event-Execute", "Close", "sealed"}, // "cut" must be a word
		{"Normal", "Tampered", "tampered"},
		{"Termination", "Open", "opened"},
	}
	for _, tt := range tests {
		line := withField(fDoor, tt.door)
		line = strings.Replace(line, ",Normal,", ","+tt.typ+",", 1)
		m, err := Parse([]byte(line))
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.typ, tt.door, err)
		}
		if got := m.State(); got != tt.want {
			t.Errorf("%s door %q: State = %q, want %q", tt.typ, tt.door, got, tt.want)
		}
	}
	if got := (Message{Type: "Startup OK", Door: "Close"}).State(); got != "unknown" {
		t.Errorf("reply State = %q, want unknown", got)
	}
}

func TestAckTypes(t *testing.T) {
	tests := []struct {
		typ, ack string
	}{
		{"Startup", "##S,eSeal,1000821,256,3.0.6,Startup ACK,34,180,30,30,16,1,E##\r\n"},
		{"Normal", "##S,eSeal,1000821,256,3.0.6,Normal ACK,34,E##\r\n"},
		{"Button-Normal", "##S,eSeal,1000821,256,3.0.6,Button-Normal ACK,34,E##\r\n"},
		{"Termination", "##S,eSeal,1000821,256,3.0.6,Termination ACK,34,E##\r\n"},
		{"Event-Door", "##S,eSeal,1000821,256,3.0.6,Event-Door ACK,34,E##\r\n"},
		{"Event-RC-Unlock", "##S,eSeal,1000821,256,3.0.6,Event-RC-Unlock ACK,34,E##\r\n"},
		{"Event-Open", "##S,eSeal,1000821,256,3.0.6,Event-Open ACK,34,E##\r\n"},
		{"Heartbeat", ""}, // a report of a type the header does not list
	}
	d, err := NewDecoder("s", Config{StartupConfig: startupConfig})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		line := strings.Replace(base, ",Normal,", ","+tt.typ+",", 1)
		rs, err := d.Decode([]byte(line), recv)
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: Decode = %v, %v", tt.typ, rs, err)
		}
		if got := string(d.AckFor(rs[0])); got != tt.ack {
			t.Errorf("%s: AckFor = %q, want %q", tt.typ, got, tt.ack)
		}
		if rs[0].Data["event"] != tt.typ {
			t.Errorf("%s: event = %v", tt.typ, rs[0].Data["event"])
		}
		for k, v := range rs[0].Data {
			if b, ok := v.([]byte); ok || bytes.Contains([]byte(k), []byte("ack")) {
				t.Errorf("%s: Data[%q] = %v carries the ack", tt.typ, k, b)
			}
		}
	}
}

func TestAckForWithoutRaw(t *testing.T) {
	d, _ := NewDecoder("s", Config{})
	rs, err := d.Decode([]byte(base), recv)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	r.Raw = nil
	if got := d.AckFor(r); got != nil {
		t.Errorf("AckFor without Raw = %q, want nil", got)
	}
	if got := d.AckFor(sensors.Reading{Kind: "gps", Raw: []byte(base)}); got != nil {
		t.Errorf("AckFor of a gps reading = %q, want nil", got)
	}
}

func TestDecodeCopiesLine(t *testing.T) {
	d, _ := NewDecoder("s", Config{})
	buf := []byte(base)
	rs, err := d.Decode(buf, recv)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if string(rs[0].Raw) != base {
		t.Errorf("Raw aliases the caller's buffer: %q", rs[0].Raw)
	}
}

func TestRepeatedReportSameMsgID(t *testing.T) {
	d, _ := NewDecoder("s", Config{})
	a, _ := d.Decode([]byte(base), recv)
	b, _ := d.Decode([]byte(base+"\r"), recv.Add(time.Second))
	if a[0].MsgID != b[0].MsgID {
		t.Errorf("retransmission MsgIDs differ: %q, %q", a[0].MsgID, b[0].MsgID)
	}
	// After a reboot the index restarts; the same index later is a new message.
	c, _ := d.Decode([]byte(withField(fTime, "09:14:40")), recv)
	if a[0].MsgID == c[0].MsgID {
		t.Errorf("different reports share MsgID %q", a[0].MsgID)
	}
}

func TestConfig(t *testing.T) {
	if _, err := NewDecoder("", Config{}); err == nil {
		t.Error("NewDecoder with empty sensor id: no error")
	}
	for _, bad := range []string{"1,E##", "1\r\n", "é"} {
		_, err := NewDecoder("s", Config{StartupConfig: bad})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "startup_config" || !strings.HasPrefix(err.Error(), "eseal: startup_config: ") {
			t.Errorf("StartupConfig %q: error %v, want a *ConfigError naming startup_config", bad, err)
		}
	}
	if _, err := NewDecoder("s", Config{StartupConfig: startupConfig}); err != nil {
		t.Error(err)
	}
}

func FuzzDecode(f *testing.F) {
	for line := range captured {
		f.Add([]byte(line))
	}
	for i := range reportFields {
		f.Add([]byte(withField(i, "")))
	}
	f.Add([]byte(strings.Replace(base, "Normal", "Event-Tamper", 1)))
	f.Add([]byte("##S,E##"))
	d, err := NewDecoder("s", Config{StartupConfig: startupConfig})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, perr := Parse(line)
		rs, derr := d.Decode(line, recv)
		if (perr == nil) != (derr == nil) {
			t.Fatalf("Parse error %v but Decode error %v", perr, derr)
		}
		if perr != nil {
			return
		}
		if !m.Report {
			if len(rs) != 0 || m.Ack() != nil {
				t.Fatalf("reply produced readings %v or ack %q", rs, m.Ack())
			}
			return
		}
		if len(rs) != 1 {
			t.Fatalf("report produced %d readings", len(rs))
		}
		r := rs[0]
		for k, v := range r.Data {
			switch v := v.(type) {
			case string:
				if !utf8.ValidString(v) {
					t.Fatalf("Data[%q] invalid UTF-8", k)
				}
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("Data[%q] = %v", k, v)
				}
			}
		}
		if lat, ok := r.Data["lat"].(float64); ok && math.Abs(lat) > 90 {
			t.Fatalf("lat %v", lat)
		}
		ack := d.AckFor(r)
		if !bytes.Equal(ack, m.AckWith(startupConfig)) {
			t.Fatalf("AckFor %q != AckWith %q", ack, m.AckWith(startupConfig))
		}
		if ack != nil {
			am, err := Parse(ack)
			if err != nil || am.Report || am.Type != m.Type+" ACK" {
				t.Fatalf("ack %q parses as %+v, %v", ack, am, err)
			}
		}
	})
}
