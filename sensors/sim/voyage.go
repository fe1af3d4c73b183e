// Package sim simulates one reefer container's voyage from Shanghai
// (Yangshan) to Rotterdam (Maasvlakte) by sea, so that the gateway runs,
// signs, stores and anchors realistic readings with no hardware attached.
//
// The voyage follows about 10,600 nautical miles of great-circle legs through
// the Taiwan Strait, the Singapore and Malacca straits, round Sri Lanka,
// through the Gulf of Aden, the Red Sea, the Suez Canal (after a wait at the
// Suez anchorage, at canal speed), the Mediterranean, past Gibraltar and
// Ushant and up the English Channel to the Maas. At the default 16 knots it
// takes about 28 days of voyage time; Config.TimeFactor compresses that.
//
// The model is a pure function of voyage time: [Voyage.At] gives position,
// speed, course, GPS quality, reefer supply-air temperature and seal state,
// the same every time for the same Config with a fixed Start (noise comes
// from an RNG keyed by Config.Seed and the instant). [Voyage.Run] samples it every Config.Interval
// of wall-clock time and hands three sensors' readings to a [sensors.Sink]:
//
//	<prefix>-gps     kind gps, clock gps
//	<prefix>-reefer  kind temperature, probe "supply", clock device
//	<prefix>-seal    kind seal: "sealed" at departure, a heartbeat every
//	                 Config.SealHeartbeat of voyage time, "opened" once,
//	                 two hours after arrival; MsgID = seal id ":" counter
//
// One temperature excursion (a reefer power failure) is part of the voyage
// unless the config turns it off. After arrival the container stays at the
// berth: the GPS is stationary and the reefer keeps reporting.
//
// [NMEA] renders a state as the $GPRMC and $GPGGA sentences a GPS receiver
// would send, for replaying the voyage into a serial line.
package sim

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"time"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/iso6346"
)

// Defaults, applied by New to fields left at their zero value.
const (
	DefaultSensorPrefix  = "sim"
	DefaultInterval      = time.Second
	DefaultTimeFactor    = 3600 // one voyage hour per wall-clock second: the voyage in about 11 minutes
	DefaultKnots         = 16
	DefaultSetpointC     = -18.0 // frozen cargo
	DefaultSealHeartbeat = 6 * time.Hour
)

// The default excursion, for a Config whose Excursion is nil: a six-hour
// reefer power failure 60 % of the way through the voyage (in the Red Sea,
// off Jeddah) that warms the supply air 8 °C above the setpoint.
const (
	DefaultExcursionStart    = 0.6
	DefaultExcursionDuration = 6 * time.Hour
	DefaultExcursionPeakC    = 8.0
)

// Config describes one simulated voyage. The zero value is a valid config:
// every zero field takes its default. The yaml names are the keys a config
// file uses.
type Config struct {
	// SensorPrefix names the three sensors "<prefix>-gps",
	// "<prefix>-reefer" and "<prefix>-seal". Default "sim".
	SensorPrefix string `yaml:"sensor_prefix"`

	// Container is the ISO 6346 container number (e.g. "CSQU3054383") put in
	// every reading; its check digit must be right. Optional.
	Container string `yaml:"container"`

	// SealID is the e-seal's number. Default: derived from Seed and Start,
	// so that every voyage has its own seal, as bolt seals are single-use.
	SealID string `yaml:"seal_id"`

	// Interval is the wall-clock time between sample rounds. Default 1 s.
	Interval time.Duration `yaml:"interval"`

	// TimeFactor is the seconds of voyage time per wall-clock second: each
	// round advances the voyage by Interval × TimeFactor. Default 3600; 1 is
	// real time. One round may not skip more than 30 days.
	TimeFactor float64 `yaml:"time_factor"`

	// Start is the departure time, the time stamp of the first readings.
	// Default: the time New is called.
	Start time.Time `yaml:"start"`

	// Seed selects the noise. The same Config, with Start set, gives the
	// same readings every time.
	Seed int64 `yaml:"seed"`

	// Knots is the ship's speed at sea, 1 to 40 knots. Default 16 (a
	// slow-steaming Asia–Europe container ship). Canal and harbour legs are
	// sailed slower.
	Knots float64 `yaml:"knots"`

	// SetpointC is the reefer setpoint in °C, -40 to +30. Default -18 °C,
	// frozen food (the usual limit for frozen foodstuffs); chilled cargo
	// runs at 0 to +4 °C. A pointer so that 0 °C can be chosen.
	SetpointC *float64 `yaml:"setpoint_c"`

	// Excursion is the one temperature excursion of the voyage. Nil means
	// the default excursion (see DefaultExcursionStart); an Excursion with
	// zero Duration means none.
	Excursion *Excursion `yaml:"excursion"`

	// SealHeartbeat is the voyage time between e-seal heartbeats, at least a
	// minute. Default 6 h.
	SealHeartbeat time.Duration `yaml:"seal_heartbeat"`
}

// Excursion is a reefer power failure: from Start the supply air warms
// towards PeakC above the setpoint, reaching it after Duration when power
// returns; the unit then pulls the temperature back down within a few hours.
type Excursion struct {
	// Start is when the power fails, as a fraction of the voyage from
	// departure (0) to arrival (1).
	Start float64 `yaml:"start"`
	// Duration is how long the power stays off, in voyage time. Zero means
	// no excursion.
	Duration time.Duration `yaml:"duration"`
	// PeakC is the rise above the setpoint at the end of the failure, in °C;
	// negative for a unit that overcools.
	PeakC float64 `yaml:"peak_c"`
}

// Phases of a voyage, in State.Phase.
const (
	PhaseUnderway = "underway" // at sea or in a harbour channel
	PhaseAnchored = "anchored" // waiting at an anchorage
	PhaseCanal    = "canal"    // in the Suez Canal convoy
	PhaseArrived  = "arrived"  // at the destination berth, for good
)

// State is the container's situation at one instant of the voyage.
type State struct {
	Elapsed   time.Duration // voyage time since departure
	Time      time.Time     // Start + Elapsed, UTC
	Phase     string        // one of the Phase constants
	Area      string        // where the container is, e.g. "Red Sea, off Jeddah"
	Sailed    float64       // metres sailed since departure (the plan, without GPS noise)
	Lat, Lon  float64       // degrees, WGS84, with GPS noise of a few metres
	AltM      float64       // GPS altitude above mean sea level, metres
	SpeedMPS  float64       // speed over ground, m/s
	CourseDeg float64       // course over ground, degrees true, [0, 360)
	Sats      int           // satellites used in the fix
	HDOP      float64       // horizontal dilution of precision
	ReeferC   float64       // reefer supply-air temperature, °C
	Seal      string        // sensors.SealSealed, then sensors.SealOpened after arrival
	BatteryV  float64       // e-seal battery voltage
}

// sealOpenDelay is the time from arrival at the berth to the seal being
// opened (discharge and customs release).
const sealOpenDelay = 2 * time.Hour

// maxRoundSpan bounds Interval × TimeFactor.
const maxRoundSpan = 30 * 24 * time.Hour

// leg is one precomputed great-circle leg of the voyage timeline.
type leg struct {
	from, to    waypoint
	a, b        vec
	θ           float64       // central angle, radians
	start       float64       // metres sailed at the leg's start
	length      float64       // metres
	depart      time.Duration // voyage time leaving from (after any wait there)
	arrive      time.Duration // voyage time reaching to
	finalCourse float64       // course at to, degrees
}

// Voyage is one simulated voyage. It is immutable after New: At is safe for
// concurrent use, and each call of Run replays the voyage from departure.
type Voyage struct {
	cfg       Config // with defaults applied
	setpoint  float64
	excursion Excursion
	start     time.Time
	legs      []leg
	arrival   time.Duration // voyage time of arrival at the berth
	length    float64       // metres
	log       *slog.Logger
}

// New checks cfg, applies the defaults and plans the voyage. A nil logger
// discards the log.
func New(cfg Config, logger *slog.Logger) (*Voyage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	v := &Voyage{
		cfg:       c,
		setpoint:  *c.SetpointC,
		excursion: *c.Excursion,
		start:     c.Start,
		log:       logger,
	}
	v.plan(route())
	return v, nil
}

var (
	sensorPrefixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	sealIDRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
)

// Validate reports the first problem with the config, naming the yaml key.
// Zero fields are valid: they take their defaults.
func (c Config) Validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("sim config: %s %v: %s", key, val, why)
	}
	switch {
	case c.SensorPrefix != "" && !sensorPrefixRE.MatchString(c.SensorPrefix):
		return bad("sensor_prefix", fmt.Sprintf("%q", c.SensorPrefix), "want 1 to 64 letters, digits, '.', '_' or '-'")
	case c.SealID != "" && !sealIDRE.MatchString(c.SealID):
		return bad("seal_id", fmt.Sprintf("%q", c.SealID), "want 1 to 32 letters, digits, '.', '_' or '-'")
	case c.Interval < 0:
		return bad("interval", c.Interval, "must not be negative")
	case c.Interval > 0 && c.Interval < time.Millisecond:
		return bad("interval", c.Interval, "must be at least 1ms")
	case math.IsNaN(c.TimeFactor) || c.TimeFactor < 0 || math.IsInf(c.TimeFactor, 0):
		return bad("time_factor", c.TimeFactor, "must be a positive number")
	case math.IsNaN(c.Knots) || c.Knots != 0 && (c.Knots < 1 || c.Knots > 40):
		return bad("knots", c.Knots, "must be between 1 and 40")
	case c.SetpointC != nil && !(*c.SetpointC >= -40 && *c.SetpointC <= 30):
		return bad("setpoint_c", *c.SetpointC, "must be between -40 and +30 °C")
	case c.SealHeartbeat < 0 || c.SealHeartbeat > 0 && c.SealHeartbeat < time.Minute:
		return bad("seal_heartbeat", c.SealHeartbeat, "must be at least 1m")
	}
	interval, factor := c.Interval, c.TimeFactor
	if interval == 0 {
		interval = DefaultInterval
	}
	if factor == 0 {
		factor = DefaultTimeFactor
	}
	if span := float64(interval) * factor; span > float64(maxRoundSpan) {
		return fmt.Errorf("sim config: time_factor %g: with interval %v that is %.0f days of voyage a round, more than %.0f",
			factor, interval, span/float64(24*time.Hour), maxRoundSpan.Hours()/24)
	}
	if c.Container != "" {
		if err := iso6346.Validate(c.Container); err != nil {
			return fmt.Errorf("sim config: container: %w", err)
		}
	}
	if e := c.Excursion; e != nil {
		switch {
		case !(e.Start >= 0 && e.Start <= 1):
			return bad("excursion.start", e.Start, "must be a fraction of the voyage, 0 to 1")
		case e.Duration < 0 || e.Duration > 7*24*time.Hour:
			return bad("excursion.duration", e.Duration, "must be between 0 and 168h")
		case !(e.PeakC >= -40 && e.PeakC <= 40):
			return bad("excursion.peak_c", e.PeakC, "must be between -40 and +40 °C")
		}
	}
	return nil
}

// withDefaults returns c with every zero field set to its default. It is the
// one place defaults are applied.
func (c Config) withDefaults() Config {
	if c.SensorPrefix == "" {
		c.SensorPrefix = DefaultSensorPrefix
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.TimeFactor == 0 {
		c.TimeFactor = DefaultTimeFactor
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	c.Start = c.Start.UTC()
	if c.Knots == 0 {
		c.Knots = DefaultKnots
	}
	if c.SetpointC == nil {
		sp := DefaultSetpointC
		c.SetpointC = &sp
	} else {
		sp := *c.SetpointC // do not alias the caller's value
		c.SetpointC = &sp
	}
	if c.Excursion == nil {
		c.Excursion = &Excursion{
			Start:    DefaultExcursionStart,
			Duration: DefaultExcursionDuration,
			PeakC:    DefaultExcursionPeakC,
		}
	} else {
		e := *c.Excursion
		c.Excursion = &e
	}
	if c.SealHeartbeat == 0 {
		c.SealHeartbeat = DefaultSealHeartbeat
	}
	if c.SealID == "" {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%d", c.Seed, c.Start.UnixNano())
		c.SealID = fmt.Sprintf("TS%08d", h.Sum64()%100_000_000)
	}
	return c
}

// plan lays the voyage timeline over the route.
func (v *Voyage) plan(wps []waypoint) {
	var t time.Duration
	var sailed float64
	for i := 0; i+1 < len(wps); i++ {
		from, to := wps[i], wps[i+1]
		t += from.wait
		a, b := toVec(from.lat, from.lon), toVec(to.lat, to.lon)
		θ := angle(a, b)
		knots := v.cfg.Knots
		if to.maxKnots > 0 && to.maxKnots < knots {
			knots = to.maxKnots
		}
		l := leg{
			from: from, to: to, a: a, b: b, θ: θ,
			start:  sailed,
			length: θ * earthRadius,
			depart: t,
			// The course on arrival is the reverse of the initial course
			// back from the destination.
			finalCourse: wrap360(bearing(to.lat, to.lon, from.lat, from.lon) + 180),
		}
		t += time.Duration(l.length / (knots * mpsPerKnot) * float64(time.Second))
		l.arrive = t
		sailed += l.length
		v.legs = append(v.legs, l)
	}
	v.arrival, v.length = t, sailed
}

// Duration is the voyage time from departure to arrival at the berth.
func (v *Voyage) Duration() time.Duration { return v.arrival }

// Distance is the length of the route in metres.
func (v *Voyage) Distance() float64 { return v.length }

// Sensors returns the ids of the GPS, reefer and seal sensors, in that order.
func (v *Voyage) Sensors() []string {
	p := v.cfg.SensorPrefix
	return []string{p + "-gps", p + "-reefer", p + "-seal"}
}

// At returns the state elapsed voyage time after departure. Negative times
// are taken as the moment of departure; any time after arrival finds the
// container at the berth.
func (v *Voyage) At(elapsed time.Duration) State {
	if elapsed < 0 {
		elapsed = 0
	}
	s := State{
		Elapsed: elapsed,
		Time:    v.start.Add(elapsed),
	}
	v.position(&s)
	v.gpsQuality(&s)
	s.ReeferC = v.reefer(elapsed)
	s.Seal = sensors.SealSealed
	if elapsed >= v.arrival+sealOpenDelay {
		s.Seal = sensors.SealOpened
	}
	s.BatteryV = batteryV(elapsed)
	return s
}

// position fills in phase, area, position, speed and course.
func (v *Voyage) position(s *State) {
	e := s.Elapsed
	var p vec
	moving := false
	if e >= v.arrival {
		l := v.legs[len(v.legs)-1]
		s.Phase, s.Area, s.Sailed = PhaseArrived, l.to.area, v.length
		p, s.CourseDeg = l.b, l.finalCourse
	} else {
		i := sort.Search(len(v.legs), func(i int) bool { return v.legs[i].arrive > e })
		l := v.legs[i]
		if e < l.depart {
			// Waiting at the anchorage the leg starts from.
			prev := v.legs[i-1]
			s.Phase, s.Area, s.Sailed = PhaseAnchored, l.from.area, l.start
			p, s.CourseDeg = l.a, prev.finalCourse
		} else {
			f := float64(e-l.depart) / float64(l.arrive-l.depart)
			p = slerp(l.a, l.b, l.θ, f)
			s.Phase, s.Area, s.Sailed = PhaseUnderway, l.to.area, l.start+f*l.length
			if f < 0.5 {
				s.Area = l.from.area // the nearer waypoint names the area
			}
			if l.to.canal {
				s.Phase = PhaseCanal
			}
			s.SpeedMPS = l.length / (l.arrive - l.depart).Seconds()
			lat, lon := p.latLon()
			if f < 1-1e-9 {
				s.CourseDeg = bearing(lat, lon, l.to.lat, l.to.lon)
			} else {
				s.CourseDeg = l.finalCourse
			}
			moving = true
		}
	}
	s.Lat, s.Lon = p.latLon()

	// GPS noise: a few metres of position error, a little speed and course
	// jitter while moving.
	k := uint64(e)
	north, east := 2*clamp3(v.gauss(streamNorth, k)), 2*clamp3(v.gauss(streamEast, k))
	s.Lat += north / earthRadius * 180 / math.Pi
	s.Lon += east / (earthRadius * math.Cos(s.Lat*math.Pi/180)) * 180 / math.Pi
	if s.Lon > 180 {
		s.Lon -= 360
	} else if s.Lon <= -180 {
		s.Lon += 360
	}
	if moving {
		s.SpeedMPS = math.Max(0, s.SpeedMPS+0.05*clamp3(v.gauss(streamSpeed, k)))
		s.CourseDeg = wrap360(s.CourseDeg + 0.3*clamp3(v.gauss(streamCourse, k)))
	}
}

// gpsQuality fills in altitude, satellites and HDOP, which drift slowly as
// the constellation moves.
func (v *Voyage) gpsQuality(s *State) {
	e := s.Elapsed
	s.AltM = 1.5 * v.gauss(streamAlt, uint64(e))
	c := v.smooth(streamSats, e, 40*time.Minute) // about N(0, 1)
	s.Sats = min(max(10+int(math.Round(1.5*c)), 6), 14)
	s.HDOP = math.Max(0.6, 0.9-0.05*float64(s.Sats-10)+0.05*v.gauss(streamHDOP, uint64(e)))
}

// Reefer model constants.
const (
	driftStep    = 45 * time.Minute // correlation time of the slow drift
	driftSigma   = 0.25             // °C
	measureSigma = 0.08             // °C, sensor noise
	noiseClamp   = 0.8              // °C: noise never exceeds this
	warmTau      = 2 * time.Hour    // warming time constant with the power off
	pullDownTau  = 40 * time.Minute // recovery time constant once power returns
)

// reefer is the supply-air temperature: setpoint, slow drift and sensor
// noise (clamped so that noise alone never looks like an excursion), plus
// the excursion.
func (v *Voyage) reefer(e time.Duration) float64 {
	n := driftSigma*v.smooth(streamDrift, e, driftStep) + measureSigma*v.gauss(streamMeasure, uint64(e))
	n = math.Max(-noiseClamp, math.Min(noiseClamp, n))
	return v.setpoint + n + v.excursionAt(e)
}

// excursionAt is the temperature rise the excursion causes at e.
func (v *Voyage) excursionAt(e time.Duration) float64 {
	x := v.excursion
	if x.Duration <= 0 || x.PeakC == 0 {
		return 0
	}
	t0 := time.Duration(x.Start * float64(v.arrival))
	switch {
	case e < t0:
		return 0
	case e < t0+x.Duration:
		// Warming towards ambient, scaled to reach PeakC when power returns.
		r := float64(x.Duration) / float64(warmTau)
		t := float64(e-t0) / float64(warmTau)
		return x.PeakC * -math.Expm1(-t) / -math.Expm1(-r)
	case e < t0+x.Duration+12*pullDownTau:
		return x.PeakC * math.Exp(-float64(e-t0-x.Duration)/float64(pullDownTau))
	}
	return 0
}

// batteryV is the e-seal battery: a 3.6 V lithium cell losing 2.5 mV a day.
func batteryV(e time.Duration) float64 {
	return math.Max(3.0, 3.6-0.0025*e.Hours()/24)
}

// Noise streams: each quantity draws from its own stream of the seeded RNG.
const (
	streamNorth uint64 = iota + 1
	streamEast
	streamSpeed
	streamCourse
	streamAlt
	streamSats
	streamHDOP
	streamDrift
	streamMeasure
)
