package conditions

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"regexp"
	"time"
)

// Rule types, the values of Rule.Type.
const (
	TypeTemperature = "temperature"
	TypeSilence     = "silence"
	TypeSeal        = "seal"
	TypeGeofence    = "geofence"
	TypeGPSFix      = "gps_fix"
	TypeClock       = "clock"
)

// Temperature rule modes, the values of Rule.Mode.
const (
	ModeConsecutive = "consecutive"
	ModeCumulative  = "cumulative"
)

// Defaults, applied by New to keys left at their zero value.
const (
	DefaultMaxGap         = time.Hour       // temperature: longer intervals are gaps
	DefaultMaxPositionAge = time.Hour       // seal: how old a GPS position may be
	DefaultMaxJump        = 2 * time.Second // clock: larger offset changes are jumps
	DefaultConfirm        = 1               // geofence: readings needed to change sides
)

// Config is the rules section of the gateway configuration:
//
//	zones:                       # geofences, used by geofence and seal rules
//	  - name: Rotterdam Maasvlakte
//	    circle: {lat: 51.97, lon: 4.04, radius_m: 4000}
//	  - name: Suez Canal
//	    polygon: [[32.50, 29.90], [32.65, 29.90], [32.40, 31.35], [32.25, 31.35]]  # [lon, lat]
//	zones_file: /etc/tally/zones.geojson   # more zones, a GeoJSON FeatureCollection
//	rules:
//	  - name: reefer-warm
//	    type: temperature
//	    sensors: [sim-reefer, "reefer-*"]
//	    above_c: -14
//	    duration: 30m
//	    mode: consecutive
//	    max_gap: 1h
//	    hysteresis_c: 1
//
// See the package documentation for every rule type's keys and semantics.
type Config struct {
	Zones     []Zone `yaml:"zones"`
	ZonesFile string `yaml:"zones_file"`
	Rules     []Rule `yaml:"rules"`
}

// Zone is a named geofence: exactly one of Circle, Polygon or MultiPolygon.
// Coordinates follow GeoJSON (RFC 7946): [longitude, latitude] in decimal
// degrees, WGS84. Polygon edges are straight lines in longitude/latitude
// (fine for port-sized zones); a zone must not cross the antimeridian (split
// it in two, as RFC 7946 asks).
type Zone struct {
	Name   string  `yaml:"name"`
	Circle *Circle `yaml:"circle"`
	// Polygon is one ring of [lon, lat] positions; closing it (repeating the
	// first position at the end) is optional.
	Polygon [][]float64 `yaml:"polygon"`
	// MultiPolygon has the shape of GeoJSON MultiPolygon coordinates:
	// polygons, each an outer ring followed by holes. Zones loaded from
	// zones_file use it.
	MultiPolygon [][][][]float64 `yaml:"multipolygon"`
}

// Circle is a disc around a centre: a point at most RadiusM metres away
// (great-circle distance on a sphere of radius 6,371,008.8 m) is inside.
type Circle struct {
	Lat     float64 `yaml:"lat"`
	Lon     float64 `yaml:"lon"`
	RadiusM float64 `yaml:"radius_m"`
}

// Rule is one transport-condition rule. Name, Type and Sensors apply to every
// type; the other keys belong to the types named in their comments, and
// setting a key another type owns is an error.
type Rule struct {
	// Name identifies the rule in events and in the log; letters, digits,
	// '.', '_' and '-', unique. Renaming a rule makes a restarted gateway
	// forget which of its events are already in the log.
	Name string `yaml:"name"`
	// Type is temperature, silence, seal, geofence, gps_fix or clock.
	Type string `yaml:"type"`
	// Sensors are sensor ids or path.Match patterns ("reefer-*"; '*' does
	// not match '/').
	Sensors []string `yaml:"sensors"`

	// temperature: exactly one of AboveC and BelowC. A reading at the
	// threshold is in excursion.
	AboveC *float64 `yaml:"above_c"`
	BelowC *float64 `yaml:"below_c"`
	// temperature: time in excursion before the rule fires. Zero fires on
	// the first reading in excursion (consecutive mode only).
	Duration time.Duration `yaml:"duration"`
	// temperature: consecutive (default) or cumulative.
	Mode string `yaml:"mode"`
	// temperature, cumulative: the sliding window the time in excursion is
	// summed over; zero sums since the voyage started (see VoyageSeals).
	Window time.Duration `yaml:"window"`
	// temperature: an interval between two readings longer than this is a
	// gap. Default DefaultMaxGap.
	MaxGap time.Duration `yaml:"max_gap"`
	// temperature: once in excursion, the value must go back past the
	// threshold by more than this to end it. Default 0.
	HysteresisC float64 `yaml:"hysteresis_c"`
	// temperature: only readings whose "probe" is listed; empty means all.
	Probes []string `yaml:"probes"`
	// temperature, cumulative without window: seal sensors (patterns) whose
	// change to "sealed" starts a new voyage and restarts the sum.
	VoyageSeals []string `yaml:"voyage_seals"`

	// silence: no reading from a sensor for this long is a silence.
	After time.Duration `yaml:"after"`

	// seal: zone names where opening is allowed.
	AllowedZones []string `yaml:"allowed_zones"`
	// seal: RFC 3339 times bounding when opening is allowed (inclusive).
	AllowedFrom  string `yaml:"allowed_from"`
	AllowedUntil string `yaml:"allowed_until"`
	// seal: GPS sensors (patterns) giving the position when the seal reading
	// has none. Default: every sensor ("*").
	PositionSensors []string `yaml:"position_sensors"`
	// seal: how far apart in time a GPS reading and the seal reading may be
	// for the position to count. Default DefaultMaxPositionAge.
	MaxPositionAge time.Duration `yaml:"max_position_age"`

	// geofence: zone names to watch; empty means every zone.
	Zones []string `yaml:"zones"`
	// geofence: consecutive readings on the other side needed to change
	// sides. Default 1.
	Confirm int `yaml:"confirm"`

	// clock: an offset change between consecutive GPS readings larger than
	// this is a jump. Default DefaultMaxJump.
	MaxJump time.Duration `yaml:"max_jump"`
}

// ConfigError is a problem with one key of the rules configuration.
type ConfigError struct {
	Key string // e.g. rules[2].above_c, zones[0].circle.radius_m, zones_file
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports the first problem in c as a *ConfigError naming the key.
// It does not read zones_file (New does): with zones_file set, the zone
// names rules use are checked by New only.
func (c Config) Validate() error {
	_, err := c.compile(nil)
	return err
}

// withDefaults returns r with every zero key its type defaults set. It is the
// one place defaults are applied.
func (r Rule) withDefaults() Rule {
	switch r.Type {
	case TypeTemperature:
		if r.Mode == "" {
			r.Mode = ModeConsecutive
		}
		if r.MaxGap == 0 {
			r.MaxGap = DefaultMaxGap
		}
	case TypeSeal:
		if len(r.PositionSensors) == 0 {
			r.PositionSensors = []string{"*"}
		}
		if r.MaxPositionAge == 0 {
			r.MaxPositionAge = DefaultMaxPositionAge
		}
	case TypeGeofence:
		if r.Confirm == 0 {
			r.Confirm = DefaultConfirm
		}
	case TypeClock:
		if r.MaxJump == 0 {
			r.MaxJump = DefaultMaxJump
		}
	}
	return r
}

// loadZones reads zones_file. It is the only I/O of the package.
func (c Config) loadZones() ([]Zone, error) {
	if c.ZonesFile == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(c.ZonesFile)
	if err != nil {
		return nil, cfgErr("zones_file", "%v", err)
	}
	zs, err := ParseGeoJSON(raw)
	if err != nil {
		return nil, cfgErr("zones_file", "%s: %v", c.ZonesFile, err)
	}
	return zs, nil
}

// compile validates c with the zones read from zones_file (nil when not read)
// and builds the zones and rules.
func (c Config) compile(fileZones []Zone) (*compiled, error) {
	out := &compiled{zones: map[string]*zone{}}
	add := func(key string, z Zone) error {
		if !zoneNameOK(z.Name) {
			return cfgErr(key+".name", "%q: want 1 to 128 printable characters", z.Name)
		}
		if _, dup := out.zones[z.Name]; dup {
			return cfgErr(key+".name", "zone %q is defined twice", z.Name)
		}
		cz, err := compileZone(z)
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Key = key + "." + ce.Key
				return ce
			}
			return cfgErr(key, "%v", err)
		}
		out.zones[z.Name] = cz
		out.zoneOrder = append(out.zoneOrder, z.Name)
		return nil
	}
	for i, z := range c.Zones {
		if err := add(fmt.Sprintf("zones[%d]", i), z); err != nil {
			return nil, err
		}
	}
	for i, z := range fileZones {
		if err := add(fmt.Sprintf("zones_file: features[%d]", i), z); err != nil {
			return nil, err
		}
	}
	checkZoneNames := c.ZonesFile == "" || fileZones != nil

	names := map[string]bool{}
	for i, r := range c.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		if err := r.validate(key, out.zones, checkZoneNames); err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, cfgErr(key+".name", "rule %q is defined twice", r.Name)
		}
		names[r.Name] = true
		out.rules = append(out.rules, r.withDefaults())
	}
	return out, nil
}

type compiled struct {
	zones     map[string]*zone
	zoneOrder []string
	rules     []Rule
}

func zoneNameOK(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// keysSet reports which type-specific keys r sets, for the "belongs to
// another type" check.
func (r Rule) keysSet() map[string]bool {
	return map[string]bool{
		"above_c":          r.AboveC != nil,
		"below_c":          r.BelowC != nil,
		"duration":         r.Duration != 0,
		"mode":             r.Mode != "",
		"window":           r.Window != 0,
		"max_gap":          r.MaxGap != 0,
		"hysteresis_c":     r.HysteresisC != 0,
		"probes":           len(r.Probes) > 0,
		"voyage_seals":     len(r.VoyageSeals) > 0,
		"after":            r.After != 0,
		"allowed_zones":    len(r.AllowedZones) > 0,
		"allowed_from":     r.AllowedFrom != "",
		"allowed_until":    r.AllowedUntil != "",
		"position_sensors": len(r.PositionSensors) > 0,
		"max_position_age": r.MaxPositionAge != 0,
		"zones":            len(r.Zones) > 0,
		"confirm":          r.Confirm != 0,
		"max_jump":         r.MaxJump != 0,
	}
}

// keyOrder fixes the order keys are checked in, so errors are stable.
var keyOrder = []string{
	"above_c", "below_c", "duration", "mode", "window", "max_gap", "hysteresis_c", "probes", "voyage_seals",
	"after",
	"allowed_zones", "allowed_from", "allowed_until", "position_sensors", "max_position_age",
	"zones", "confirm",
	"max_jump",
}

// typeKeys are the keys each type owns.
var typeKeys = map[string][]string{
	TypeTemperature: {"above_c", "below_c", "duration", "mode", "window", "max_gap", "hysteresis_c", "probes", "voyage_seals"},
	TypeSilence:     {"after"},
	TypeSeal:        {"allowed_zones", "allowed_from", "allowed_until", "position_sensors", "max_position_age"},
	TypeGeofence:    {"zones", "confirm"},
	TypeGPSFix:      {},
	TypeClock:       {"max_jump"},
}

func (r Rule) validate(key string, zones map[string]*zone, checkZoneNames bool) error {
	if !nameRE.MatchString(r.Name) {
		if r.Name == "" {
			return cfgErr(key+".name", "missing; every rule needs a name (letters, digits, '.', '_', '-')")
		}
		return cfgErr(key+".name", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", r.Name)
	}
	own, ok := typeKeys[r.Type]
	if !ok {
		return cfgErr(key+".type", "%q: want temperature, silence, seal, geofence, gps_fix or clock", r.Type)
	}
	if err := checkPatterns(key+".sensors", r.Sensors, true); err != nil {
		return err
	}
	owned := map[string]bool{}
	for _, k := range own {
		owned[k] = true
	}
	set := r.keysSet()
	for _, k := range keyOrder {
		if set[k] && !owned[k] {
			return cfgErr(key+"."+k, "not a key of a %s rule", r.Type)
		}
	}
	positive := func(k string, d time.Duration) error {
		if d < 0 {
			return cfgErr(key+"."+k, "%v is negative", d)
		}
		return nil
	}
	finite := func(k string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return cfgErr(key+"."+k, "%v is not a number", v)
		}
		return nil
	}
	switch r.Type {
	case TypeTemperature:
		switch {
		case r.AboveC == nil && r.BelowC == nil:
			return cfgErr(key+".above_c", "set above_c or below_c, the threshold in °C")
		case r.AboveC != nil && r.BelowC != nil:
			return cfgErr(key+".below_c", "set only one of above_c and below_c (use two rules for a band)")
		}
		th := r.AboveC
		thKey := "above_c"
		if th == nil {
			th, thKey = r.BelowC, "below_c"
		}
		if err := finite(thKey, *th); err != nil {
			return err
		}
		if *th < -273.15 || *th > 1000 {
			return cfgErr(key+"."+thKey, "%g °C is not a plausible temperature", *th)
		}
		if err := finite("hysteresis_c", r.HysteresisC); err != nil {
			return err
		}
		if r.HysteresisC < 0 || r.HysteresisC > 100 {
			return cfgErr(key+".hysteresis_c", "%g: want 0 to 100 °C", r.HysteresisC)
		}
		for _, k := range []struct {
			n string
			d time.Duration
		}{{"duration", r.Duration}, {"window", r.Window}, {"max_gap", r.MaxGap}} {
			if err := positive(k.n, k.d); err != nil {
				return err
			}
		}
		switch r.Mode {
		case "", ModeConsecutive:
			if r.Window != 0 {
				return cfgErr(key+".window", "only for mode: cumulative")
			}
			if len(r.VoyageSeals) > 0 {
				return cfgErr(key+".voyage_seals", "only for mode: cumulative")
			}
		case ModeCumulative:
			if r.Duration == 0 {
				return cfgErr(key+".duration", "a cumulative rule needs the time in excursion that fires it, e.g. 30m")
			}
			if r.Window != 0 && r.Duration > r.Window {
				return cfgErr(key+".duration", "%v is longer than the window %v: the rule could never fire", r.Duration, r.Window)
			}
			if r.Window != 0 && len(r.VoyageSeals) > 0 {
				return cfgErr(key+".voyage_seals", "only without window (a sum since the voyage started)")
			}
		default:
			return cfgErr(key+".mode", "%q: want consecutive or cumulative", r.Mode)
		}
		if err := checkPatterns(key+".voyage_seals", r.VoyageSeals, false); err != nil {
			return err
		}
		for i, p := range r.Probes {
			if p == "" {
				return cfgErr(fmt.Sprintf("%s.probes[%d]", key, i), "empty probe name")
			}
		}
	case TypeSilence:
		if r.After <= 0 {
			return cfgErr(key+".after", "set how long without a reading is a silence, e.g. 15m")
		}
	case TypeSeal:
		if err := positive("max_position_age", r.MaxPositionAge); err != nil {
			return err
		}
		if err := checkPatterns(key+".position_sensors", r.PositionSensors, false); err != nil {
			return err
		}
		for i, z := range r.AllowedZones {
			if checkZoneNames && zones[z] == nil {
				return cfgErr(fmt.Sprintf("%s.allowed_zones[%d]", key, i), "no zone named %q (define it under zones: or in zones_file)", z)
			}
		}
		from, until, err := r.window(key)
		if err != nil {
			return err
		}
		if !from.IsZero() && !until.IsZero() && until.Before(from) {
			return cfgErr(key+".allowed_until", "%s is before allowed_from %s", r.AllowedUntil, r.AllowedFrom)
		}
	case TypeGeofence:
		if r.Confirm < 0 || r.Confirm > 1000 {
			return cfgErr(key+".confirm", "%d: want 1 to 1000 readings", r.Confirm)
		}
		for i, z := range r.Zones {
			if checkZoneNames && zones[z] == nil {
				return cfgErr(fmt.Sprintf("%s.zones[%d]", key, i), "no zone named %q (define it under zones: or in zones_file)", z)
			}
		}
		if checkZoneNames && len(zones) == 0 {
			return cfgErr(key+".zones", "no zones are defined (add zones: or zones_file:)")
		}
	case TypeClock:
		if err := positive("max_jump", r.MaxJump); err != nil {
			return err
		}
	}
	return nil
}

// window parses allowed_from and allowed_until; zero times when unset.
func (r Rule) window(key string) (from, until time.Time, err error) {
	if r.AllowedFrom != "" {
		if from, err = time.Parse(time.RFC3339, r.AllowedFrom); err != nil {
			return from, until, cfgErr(key+".allowed_from", "%q is not an RFC 3339 time like 2026-03-29T00:00:00Z", r.AllowedFrom)
		}
	}
	if r.AllowedUntil != "" {
		if until, err = time.Parse(time.RFC3339, r.AllowedUntil); err != nil {
			return from, until, cfgErr(key+".allowed_until", "%q is not an RFC 3339 time like 2026-04-02T00:00:00Z", r.AllowedUntil)
		}
	}
	return from, until, nil
}

func checkPatterns(key string, pats []string, required bool) error {
	if required && len(pats) == 0 {
		return cfgErr(key, "list at least one sensor id or pattern (\"*\" for every sensor)")
	}
	for i, p := range pats {
		if p == "" {
			return cfgErr(fmt.Sprintf("%s[%d]", key, i), "empty sensor id")
		}
		if _, err := path.Match(p, ""); err != nil {
			return cfgErr(fmt.Sprintf("%s[%d]", key, i), "%q is not a valid pattern: %v", p, err)
		}
	}
	return nil
}

// matchAny reports whether id matches one of the patterns.
func matchAny(pats []string, id string) bool {
	for _, p := range pats {
		if p == id {
			return true
		}
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}
