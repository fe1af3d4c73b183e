package mqtt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

// payloadCase is one table row: a payload and either the reading it
// decodes to (Raw aside) or the class and a part of the reason of its error.
type payloadCase struct {
	name    string
	payload string
	want    sensors.Reading // Kind, Time, Clock, Container, MsgID, Data
	class   string          // error class; "" when it decodes
	reason  string          // substring of the reason
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var temperatureCases = []payloadCase{
	{name: "minimal", payload: `{"celsius": 4.5}`,
		want: sensors.Reading{Kind: "temperature", Data: map[string]any{"celsius": 4.5}}},
	{name: "full", payload: `{"celsius":-18.25,"probe":"supply","humidity_pct":81,"time":"2026-03-01T13:00:00+01:00","msg_id":1042,"container":"CSQU3054383","extra":{"fw":"1.2","rssi":-71}}`,
		want: sensors.Reading{Kind: "temperature", Time: t0, Clock: "device", Container: "CSQU3054383", MsgID: "1042",
			Data: map[string]any{"celsius": -18.25, "probe": "supply", "humidity_pct": 81.0}}},
	{name: "string msg_id and clock", payload: `{"celsius":0,"time":"2026-03-01T12:00:00Z","clock":"ntp","msg_id":"a-7"}`,
		want: sensors.Reading{Kind: "temperature", Time: t0, Clock: "ntp", MsgID: "a-7", Data: map[string]any{"celsius": 0.0}}},
	{name: "null optional", payload: `{"celsius":1,"probe":null,"msg_id":null}`,
		want: sensors.Reading{Kind: "temperature", Data: map[string]any{"celsius": 1.0}}},
	{name: "negative zero", payload: `{"celsius":-0}`,
		want: sensors.Reading{Kind: "temperature", Data: map[string]any{"celsius": 0.0}}},
	{name: "bounds", payload: `{"celsius":150,"humidity_pct":100}`,
		want: sensors.Reading{Kind: "temperature", Data: map[string]any{"celsius": 150.0, "humidity_pct": 100.0}}},

	{name: "empty", payload: ``, class: ClassJSON, reason: "payload is empty"},
	{name: "whitespace", payload: "  \n", class: ClassJSON, reason: "payload is empty"},
	{name: "truncated", payload: `{"celsius": 4.`, class: ClassJSON, reason: "malformed JSON"},
	{name: "garbage", payload: `celsius=4`, class: ClassJSON, reason: "malformed JSON at byte"},
	{name: "array", payload: `[{"celsius":4}]`, class: ClassJSON, reason: "an array, not a JSON object"},
	{name: "bare number", payload: `4.5`, class: ClassJSON, reason: "a number, not a JSON object"},
	{name: "two objects", payload: `{"celsius":4}{"celsius":5}`, class: ClassJSON, reason: "data after the JSON object"},
	{name: "trailing comma", payload: `{"celsius":4,}`, class: ClassJSON, reason: "malformed JSON"},
	{name: "duplicate key", payload: `{"celsius":4,"celsius":99}`, class: ClassJSON, reason: `field "celsius" appears twice`},
	{name: "invalid utf8", payload: "{\"celsius\":4,\"probe\":\"a\xffb\"}", class: ClassUTF8, reason: "offset 23"},
	{name: "unknown field", payload: `{"celsius":4,"temp_f":39}`, class: ClassSchema, reason: `unknown field "temp_f"`},
	{name: "missing celsius", payload: `{"probe":"p1"}`, class: ClassSchema, reason: `field "celsius" is missing`},
	{name: "null celsius", payload: `{"celsius":null}`, class: ClassSchema, reason: `field "celsius" is missing`},
	{name: "string celsius", payload: `{"celsius":"4.5"}`, class: ClassSchema, reason: `field "celsius" must be a number, not a string`},
	{name: "bool celsius", payload: `{"celsius":true}`, class: ClassSchema, reason: "not a boolean"},
	{name: "too hot", payload: `{"celsius":212}`, class: ClassRange, reason: `field "celsius": 212 is out of range [-100, 150]`},
	{name: "too cold", payload: `{"celsius":-273.15}`, class: ClassRange, reason: "out of range"},
	{name: "overflow", payload: `{"celsius":1e999}`, class: ClassRange, reason: "out of range"},
	{name: "humidity", payload: `{"celsius":4,"humidity_pct":101}`, class: ClassRange, reason: "humidity_pct"},
	{name: "probe number", payload: `{"celsius":4,"probe":2}`, class: ClassSchema, reason: `field "probe" must be a string, not a number`},
	{name: "probe empty", payload: `{"celsius":4,"probe":""}`, class: ClassSchema, reason: `field "probe" is empty`},
	{name: "probe control", payload: `{"celsius":4,"probe":"a\u0000b"}`, class: ClassRange, reason: "control characters"},
	{name: "probe long", payload: `{"celsius":4,"probe":"` + strings.Repeat("p", 65) + `"}`, class: ClassRange, reason: "at most 64"},
	{name: "lone surrogate", payload: `{"celsius":4,"probe":"\ud800"}`, class: ClassUTF8, reason: "not valid text"},
	{name: "bad time", payload: `{"celsius":4,"time":"2026-03-01 12:00:00"}`, class: ClassRange, reason: "not an RFC 3339 time"},
	{name: "zero time", payload: `{"celsius":4,"time":"0001-01-01T00:00:00Z","clock":"rtc"}`, class: ClassRange, reason: "before 1970: the sensor's clock is not set"},
	{name: "epoch time", payload: `{"celsius":4,"time":1772366400}`, class: ClassSchema, reason: `field "time" must be a string`},
	{name: "clock without time", payload: `{"celsius":4,"clock":"rtc"}`, class: ClassSchema, reason: `"clock" is set but "time" is not`},
	{name: "bad clock", payload: `{"celsius":4,"time":"2026-03-01T12:00:00Z","clock":"atomic"}`, class: ClassRange, reason: "not gps, ntp, rtc or device"},
	{name: "fractional msg_id", payload: `{"celsius":4,"msg_id":1.5}`, class: ClassSchema, reason: "string or an integer"},
	{name: "object msg_id", payload: `{"celsius":4,"msg_id":{}}`, class: ClassSchema, reason: "string or an integer"},
	{name: "bad container", payload: `{"celsius":4,"container":"CSQU3054384"}`, class: ClassContainer, reason: "check digit"},
	{name: "extra not object", payload: `{"celsius":4,"extra":[1]}`, class: ClassSchema, reason: `"extra" must be an object`},
}

var gpsCases = []payloadCase{
	{name: "minimal", payload: `{"lat":51.95,"lon":4.05}`,
		want: sensors.Reading{Kind: "gps", Data: map[string]any{"lat": 51.95, "lon": 4.05}}},
	{name: "full", payload: `{"lat":-33.86,"lon":151.2,"alt_m":12.5,"speed_mps":7.2,"course_deg":359.9,"fix":"3D","sats":11,"hdop":0.8,"time":"2026-03-01T12:00:00Z","clock":"gps","msg_id":"77"}`,
		want: sensors.Reading{Kind: "gps", Time: t0, Clock: "gps", MsgID: "77",
			Data: map[string]any{"lat": -33.86, "lon": 151.2, "alt_m": 12.5, "speed_mps": 7.2, "course_deg": 359.9, "fix": "3d", "sats": int64(11), "hdop": 0.8}}},
	{name: "poles", payload: `{"lat":90,"lon":-180}`,
		want: sensors.Reading{Kind: "gps", Data: map[string]any{"lat": 90.0, "lon": -180.0}}},

	{name: "lat range", payload: `{"lat":90.5,"lon":4}`, class: ClassRange, reason: `field "lat": 90.5 is out of range [-90, 90]`},
	{name: "lon range", payload: `{"lat":0,"lon":-181}`, class: ClassRange, reason: `"lon"`},
	{name: "missing lon", payload: `{"lat":0}`, class: ClassSchema, reason: `field "lon" is missing`},
	{name: "lat string", payload: `{"lat":"51.9","lon":4}`, class: ClassSchema, reason: "must be a number"},
	{name: "bad fix", payload: `{"lat":0,"lon":0,"fix":"4d"}`, class: ClassRange, reason: `"4d" is not one of none, 2d, 3d`},
	{name: "fix number", payload: `{"lat":0,"lon":0,"fix":3}`, class: ClassSchema, reason: `field "fix" must be a string`},
	{name: "sats fraction", payload: `{"lat":0,"lon":0,"sats":7.5}`, class: ClassSchema, reason: `field "sats" must be an integer, not 7.5`},
	{name: "sats negative", payload: `{"lat":0,"lon":0,"sats":-1}`, class: ClassRange, reason: "out of range [0, 255]"},
	{name: "sats huge", payload: `{"lat":0,"lon":0,"sats":99999999999999999999}`, class: ClassRange, reason: "out of range"},
	{name: "speed negative", payload: `{"lat":0,"lon":0,"speed_mps":-1}`, class: ClassRange, reason: "speed_mps"},
	{name: "course", payload: `{"lat":0,"lon":0,"course_deg":361}`, class: ClassRange, reason: "course_deg"},
	{name: "alt", payload: `{"lat":0,"lon":0,"alt_m":-3000}`, class: ClassRange, reason: "alt_m"},
	{name: "temperature field", payload: `{"lat":0,"lon":0,"celsius":4}`, class: ClassSchema, reason: `unknown field "celsius"`},
}

var sealCases = []payloadCase{
	{name: "sealed", payload: `{"seal_id":"ES-001","state":"sealed"}`,
		want: sensors.Reading{Kind: "seal", Data: map[string]any{"seal_id": "ES-001", "state": "sealed"}}},
	{name: "closed word", payload: `{"seal_id":"ES-001","state":"Closed","event":"door","battery_v":3.6,"msg_id":9,"time":"2026-03-01T12:00:00Z"}`,
		want: sensors.Reading{Kind: "seal", Time: t0, Clock: "device", MsgID: "9",
			Data: map[string]any{"seal_id": "ES-001", "state": "sealed", "event": "door", "battery_v": 3.6}}},
	{name: "open word", payload: `{"seal_id":"x","state":"OPEN"}`,
		want: sensors.Reading{Kind: "seal", Data: map[string]any{"seal_id": "x", "state": "opened"}}},
	{name: "tamper word", payload: `{"seal_id":"x","state":"tamper","lat":1.5,"lon":2.5}`,
		want: sensors.Reading{Kind: "seal", Data: map[string]any{"seal_id": "x", "state": "tampered", "lat": 1.5, "lon": 2.5}}},
	{name: "unknown", payload: `{"seal_id":"x","state":"unknown"}`,
		want: sensors.Reading{Kind: "seal", Data: map[string]any{"seal_id": "x", "state": "unknown"}}},

	{name: "bad state", payload: `{"seal_id":"x","state":"ajar"}`, class: ClassRange, reason: `"ajar" is not a seal state`},
	{name: "missing state", payload: `{"seal_id":"x"}`, class: ClassSchema, reason: `field "state" is missing`},
	{name: "missing seal_id", payload: `{"state":"sealed"}`, class: ClassSchema, reason: `field "seal_id" is missing`},
	{name: "seal_id number", payload: `{"seal_id":17,"state":"sealed"}`, class: ClassSchema, reason: `field "seal_id" must be a string`},
	{name: "battery", payload: `{"seal_id":"x","state":"sealed","battery_v":230}`, class: ClassRange, reason: "battery_v"},
	{name: "lat alone", payload: `{"seal_id":"x","state":"sealed","lat":1}`, class: ClassSchema, reason: "come together"},
}

func runPayloadCases(t *testing.T, decode func([]byte) (sensors.Reading, error), cases []payloadCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decode([]byte(tc.payload))
			if tc.class != "" {
				var pe *PayloadError
				if !errors.As(err, &pe) {
					t.Fatalf("got %+v, %v; want a *PayloadError of class %s", r, err, tc.class)
				}
				if pe.Class != tc.class || !strings.Contains(pe.Reason, tc.reason) {
					t.Errorf("error class %s, reason %q; want class %s, reason containing %q", pe.Class, pe.Reason, tc.class, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if string(r.Raw) != tc.payload {
				t.Errorf("Raw = %q, want the payload", r.Raw)
			}
			r.Raw = nil
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("reading\n got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestDecodeTemperature(t *testing.T) { runPayloadCases(t, DecodeTemperature, temperatureCases) }
func TestDecodeGPS(t *testing.T)         { runPayloadCases(t, DecodeGPS, gpsCases) }
func TestDecodeSeal(t *testing.T)        { runPayloadCases(t, DecodeSeal, sealCases) }

// TestSealWords checks every documented device word.
func TestSealWords(t *testing.T) {
	for word, want := range sealWords {
		r, err := DecodeSeal([]byte(`{"seal_id":"s","state":"` + strings.ToUpper(word) + `"}`))
		if err != nil || r.Data["state"] != want {
			t.Errorf("state %q: %v, %v; want %s", word, r.Data["state"], err, want)
		}
	}
}
