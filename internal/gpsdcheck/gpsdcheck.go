// Package gpsdcheck holds what the tests comparing tally's NMEA decoding
// with gpsd's own output share: reading gpsd's TPV reports from the
// captures' .chk files, comparing a reading's field with gpsd's, and the
// known, explained differences.
package gpsdcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TPV is the part of a gpsd TPV report the tests compare.
type TPV struct {
	Class  string   `json:"class"`
	Mode   int      `json:"mode"`
	Time   string   `json:"time"`
	Lat    *float64 `json:"lat"`
	Lon    *float64 `json:"lon"`
	AltMSL *float64 `json:"altMSL"`
	Speed  *float64 `json:"speed"`
	Track  *float64 `json:"track"`
}

// ReadTPVs returns the TPV reports of a gpsd .chk file, in order.
func ReadTPVs(t testing.TB, path string) []TPV {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer f.Close()
	var out []TPV
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"class":"TPV"`) {
			continue
		}
		var v TPV
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	return out
}

// Within checks a reading's field key against gpsd's value, when gpsd has
// one, and returns the differences.
func Within(data map[string]any, key string, want *float64, tol float64) []string {
	if want == nil {
		return nil
	}
	got, ok := data[key].(float64)
	if !ok {
		return []string{fmt.Sprintf("%s missing, gpsd %v", key, *want)}
	}
	if math.Abs(got-*want) > tol {
		return []string{fmt.Sprintf("%s %.9f, gpsd %.9f", key, got, *want)}
	}
	return nil
}

// SilentEpochs are epochs for which the decoder has a timed reading and
// gpsd printed no TPV with a time, per capture, with the reason. gpsd
// reports after each sentence rather than after the whole epoch.
var SilentEpochs = map[string]map[string]string{
	"beidou-bd": {
		"2015-02-25T07:41:55.799Z": "the first RMC with status A (the first trusted date) is the epoch's last sentence; " +
			"gpsd reported the epoch's GGA and GNS before it, without a time, and printed no TPV after the RMC. " +
			"The decoder merges the epoch first, so it has the date.",
	},
	"mtk-3301": {
		"2008-08-23T08:14:36Z": "same as beidou-bd: the epoch's RMC is the first with status A, it follows the GGA " +
			"that gpsd reported without a time, and gpsd printed no TPV after it.",
	},
	"gp-320fw-2019-04-06-overflow": {
		"2019-04-06T23:57:26.02Z": "gpsd reports this receiver's epochs when the sentence it learned ends the cycle " +
			"(GLL) arrives; this epoch has no GLL, so gpsd printed no TPV for it at all.",
	},
}

// NoFixPositions are untimed gpsd TPVs with mode >= 2 whose position is in
// no reading, per capture, with the reason.
var NoFixPositions = map[string]map[string]string{
	"mtk-3301": {
		"52.216316550,6.884965100": "it comes from $GPGGA,081434.590 with quality 0 and the epoch's RMC has status V: " +
			"the receiver says it has no fix. gpsd still reports the position (mode 2); the decoder makes " +
			"readings of valid fixes only.",
	},
}
