package mqtt

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/nmea"
)

// checkDecoded fails unless decode's result holds the decoders' promises:
// an error is a *PayloadError with a short valid-UTF-8 reason; a reading
// has its kind, only the allowed value types, numbers in range, and times
// with a clock.
func checkDecoded(t *testing.T, payload []byte, r sensors.Reading, err error, kind string) {
	t.Helper()
	if err != nil {
		var pe *PayloadError
		if !errors.As(err, &pe) {
			t.Fatalf("error %T %v is not a *PayloadError", err, err)
		}
		if pe.Class == "" || pe.Reason == "" || !utf8.ValidString(pe.Reason) || len(pe.Reason) > 1024 {
			t.Fatalf("bad error: class %q reason %q", pe.Class, pe.Reason)
		}
		return
	}
	if !utf8.Valid(payload) {
		t.Fatalf("decoded invalid UTF-8 %q", payload)
	}
	if r.Kind != kind || r.Sensor != "" || string(r.Raw) != string(payload) {
		t.Fatalf("reading %+v", r)
	}
	if r.Time.IsZero() != (r.Clock == "") {
		t.Fatalf("time %v with clock %q", r.Time, r.Clock)
	}
	if len(r.MsgID) > maxMsgIDLen || !utf8.ValidString(r.MsgID) {
		t.Fatalf("msg_id %q", r.MsgID)
	}
	for k, v := range r.Data {
		switch v := v.(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Signbit(v) && v == 0 {
				t.Fatalf("Data[%q] = %v", k, v)
			}
		case int64:
		case string:
			if v == "" || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("Data[%q] = %q", k, v)
			}
		default:
			t.Fatalf("Data[%q] has type %T", k, v)
		}
	}
	within := func(k string, lo, hi float64) {
		if v, ok := r.Data[k].(float64); ok && (v < lo || v > hi) {
			t.Fatalf("Data[%q] = %v out of [%v, %v]", k, v, lo, hi)
		}
	}
	within("lat", -90, 90)
	within("lon", -180, 180)
	within("celsius", minCelsius, maxCelsius)
	within("humidity_pct", 0, 100)
	within("battery_v", 0, maxBatteryV)
	if s, ok := r.Data["state"]; ok && s != sensors.SealSealed && s != sensors.SealOpened && s != sensors.SealTampered && s != sensors.SealUnknown {
		t.Fatalf("state %q", s)
	}
}

func seed(f *testing.F, cases []payloadCase) {
	for _, tc := range cases {
		f.Add([]byte(tc.payload))
	}
}

func FuzzDecodeTemperature(f *testing.F) {
	seed(f, temperatureCases)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeTemperature(b)
		checkDecoded(t, b, r, err, sensors.KindTemperature)
		if err == nil {
			if _, ok := r.Data["celsius"].(float64); !ok {
				t.Fatalf("no celsius in %+v", r)
			}
		}
	})
}

func FuzzDecodeGPS(f *testing.F) {
	seed(f, gpsCases)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeGPS(b)
		checkDecoded(t, b, r, err, sensors.KindGPS)
	})
}

func FuzzDecodeSeal(f *testing.F) {
	seed(f, sealCases)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSeal(b)
		checkDecoded(t, b, r, err, sensors.KindSeal)
	})
}

// FuzzNMEAPayload feeds a payload to an NMEA decoder line by line, as the
// subscriber does.
func FuzzNMEAPayload(f *testing.F) {
	f.Add([]byte(nmeaEpoch(0)))
	f.Add([]byte(nmeaEpoch(0) + nmeaEpoch(1)))
	f.Add([]byte("$GPGGA,bad*00\n\n\r\n$GPRMC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := nmea.NewDecoder("gps-1", nmea.Options{})
		recv := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var rs []sensors.Reading
		nmeaLines(b, func(line []byte) {
			if len(line) == 0 || strings.ContainsAny(string(line), "\r\n") {
				t.Fatalf("line %q", line)
			}
			out, err := dec.Decode(line, recv)
			if err != nil && err.Error() == "" {
				t.Fatal("empty reason")
			}
			rs = append(rs, out...)
		})
		rs = append(rs, dec.Flush()...)
		for _, r := range rs {
			if r.Sensor != "gps-1" {
				t.Fatalf("reading %+v", r)
			}
		}
	})
}

// FuzzTopic matches topics against filters and expands sensor templates.
func FuzzTopic(f *testing.F) {
	f.Add("reefer/+/temp", "reefer-{1}", "reefer/7/temp")
	f.Add("site/+/+/#", "{2}.{1}", "site/a/b/c/d")
	f.Add("#", "all", "$SYS/x")
	f.Add("a/+", "s-{1}", "a/")
	f.Fuzz(func(t *testing.T, filter, tpl, topic string) {
		levels, err := parseFilter(filter)
		if err != nil {
			return
		}
		tp, err := parseTemplate(tpl, countPlus(levels))
		caps, ok := matchTopic(levels, topic, nil)
		if !ok {
			return
		}
		if len(caps) != countPlus(levels) {
			t.Fatalf("filter %q topic %q: %d captures", filter, topic, len(caps))
		}
		if !filtersOverlap(levels, levels) {
			t.Fatalf("filter %q does not overlap itself", filter)
		}
		if err == nil {
			_ = validSensorID(tp.expand(caps))
		}
	})
}

// nmeaEpoch returns one NMEA epoch (GGA and RMC) at 12:00:0s.
func nmeaEpoch(s int) string {
	return nmeaSentence("GPGGA,12000"+string(rune('0'+s%10))+".00,5157.000,N,00403.000,E,1,08,0.9,10.0,M,47.0,M,,") +
		nmeaSentence("GPRMC,12000"+string(rune('0'+s%10))+".00,A,5157.000,N,00403.000,E,5.0,90.0,010326,,,A")
}

// nmeaSentence adds '$', the checksum and CRLF.
func nmeaSentence(body string) string {
	var sum byte
	for i := 0; i < len(body); i++ {
		sum ^= body[i]
	}
	const hex = "0123456789ABCDEF"
	return "$" + body + "*" + string(hex[sum>>4]) + string(hex[sum&15]) + "\r\n"
}
