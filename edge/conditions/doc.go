// Package conditions evaluates transport-condition rules — temperature
// excursions, sensor silence, seal changes and breaches, geofences, GPS fix
// loss, gateway clock jumps — over the stream of accepted readings, and
// computes cold-chain figures (mean kinetic temperature) over temperature
// records.
//
// The evaluation is pure and deterministic: no I/O and no clock. Time comes
// from the readings (and from [Engine.Tick] for silences), so the daemon
// runs an [Engine] as readings are accepted ([Engine.Observe]), appends the
// [Event] values it returns to the signed log as readings of kind "event"
// ([Event.Reading]), and after a restart rebuilds the engine's state by
// replaying stored readings ([Engine.Replay], [Engine.Resume]). [New] reads
// zones_file, the package's only I/O.
//
// # Time
//
// The time of a reading for the rules is its sensor time (Reading.Time)
// when it has one, else the gateway receive time. An event's At is on that
// scale; Event.Clock says which clock it came from ("" for a receive time).
// Silence rules alone run on the gateway clock (receive times and Tick),
// because silence is about reception and Tick's clock is the gateway's.
//
// # Temperature rules
//
// A temperature rule watches each series — a sensor and probe — of kind
// "temperature" readings ("celsius"). It is evaluated on time-weighted
// intervals, never on sample counts: each reading's value holds from its
// time until the series' next reading (step interpolation), so the interval
// between two readings is in excursion when the earlier reading is.
//
//   - Threshold: a reading at the threshold is in excursion (above_c: v ≥
//     threshold; below_c: v ≤ threshold). Once in excursion, the series
//     stays in excursion until a reading goes back past the threshold by more
//     than hysteresis_c (above_c: v < threshold − hysteresis), so a sensor
//     hovering at the limit makes one excursion, not many.
//   - Gaps: an interval longer than max_gap (default 1h; exactly max_gap is
//     not a gap), or one where time goes back, is a gap. A gap is never
//     counted as time in excursion. It ends a consecutive run (an excursion
//     that fired ends at the last reading before the gap, reason "gap"), and
//     after it an excursion needs a reading at the threshold again.
//   - Consecutive mode (the default): the rule fires when a run of
//     excursion reaches duration: when the time from the run's first reading
//     to a later reading is at least duration (inclusive). Readings every
//     5 min with duration 30m: six readings in excursion (0, 5, … 25 min)
//     followed by any reading at 30 min fire; five do not. The event's At is
//     the first reading's time plus duration, FromSeq the run's first
//     reading, ToSeq the reading that completed the duration. Duration 0
//     fires on the first reading in excursion.
//   - Cumulative mode: the rule fires when the time in excursion summed over
//     the sliding window ending at a reading reaches duration; At is the
//     instant the sum reached it (to the nanosecond), FromSeq the first
//     reading of the stretch of excursion during which it did (or the seal
//     reading that started the voyage, for a stretch that began before it),
//     ToSeq the reading that closed the interval. Without a
//     window the sum runs since the voyage started: since a seal listed in
//     voyage_seals last changed to "sealed", or since the first reading.
//     With a window the excursion ends when the sum drops back below
//     duration (reason "window").
//
// A rule is evaluated when a reading arrives: the interval it closes is then
// known. Each excursion that fires gives one "temperature_excursion" event
// and one "temperature_excursion_end" when it ends (reason "recovered",
// "gap", "window" or "new voyage"). Values: threshold_c, direction,
// hysteresis_c, peak_c (the worst value held during counted time),
// duration_s (time in excursion so far; at the end, the total), limit_s,
// mode, max_gap_s, and window_s, probe, reason, gap_s where they apply.
//
// # Silence rules
//
// A sensor matching a silence rule that has reported once and then sends
// nothing for at least after (by receive time) gives one "sensor_silence"
// event per silence, At = last receive time + after, FromSeq = ToSeq = its
// last reading; when it reports again, one "sensor_back" (FromSeq its last
// reading before, ToSeq the new one). The engine notices when a reading of
// any sensor, or Tick, brings the gateway clock past the limit. A gateway
// that was off for longer than after reports its sensors silent.
//
// # Seal rules
//
// Every change of a seal's "state" (per sensor and seal_id) gives a
// "seal_change" event; the first reading of a seal is a change from "none".
// A change to "opened" or "tampered" is also a "seal_breach" unless it is
// allowed: at a position inside one of allowed_zones (when set) and at a
// time within allowed_from … allowed_until (inclusive, when set). A rule
// that sets none of these allows no opening. The position is the seal
// reading's own lat/lon, else the latest GPS reading of a position_sensors
// sensor at most max_position_age (default 1h) away in time. Fail safe: with
// allowed_zones set and no position known, an opening is a breach with
// reason "position unknown".
//
// # Geofence rules
//
// Zones are circles (great-circle distance), or polygons and multipolygons
// with holes whose edges are straight lines in longitude/latitude; a point
// on a boundary is inside. For every GPS sensor and zone, a reading on the
// other side than the present one changes sides (after confirm readings in
// a row there, default 1) and gives "geofence_enter" or "geofence_exit"
// (At and position of the first reading on the new side; FromSeq the first,
// ToSeq the confirming reading). The first reading of a sensor sets its side
// at once: inside, it gives "geofence_enter" (a container that powers up in
// a port is reported there); outside, nothing. Zones come from zones: in
// the config and from a GeoJSON FeatureCollection (ParseGeoJSON).
//
// # GPS fix and clock rules
//
// A gps_fix rule turns the status readings GPS drivers emit (Data
// "event": "fix_lost" / "fix_regained") into "gps_fix_lost" and
// "gps_fix_regained" events; the latter spans from the fix_lost reading and
// carries lost_s (by receive time). A clock rule computes, for GPS readings
// with clock "gps", the offset receive time − GPS time and reports a
// "clock_jump" when it changes by more than max_jump (default 2s) between
// consecutive readings of a sensor, with offset_s, previous_offset_s and
// jump_s.
//
// # Restart
//
// An event's identity is its rule, kind, sensor, FromSeq and, for
// geofences, zone; its event reading carries them (and uses them as MsgID).
// The engine emits an event of a given identity at most once, and never one
// whose event reading it has seen in the stream.
//
// After a restart the daemon feeds a fresh engine the stored readings,
// event readings included, with Replay, then calls Resume, which returns
// only the events the log lacks: those a crash kept the previous run from
// appending. The replay starts at seq 0, or — after BeginReplay — at the
// From of a [Checkpoint] the previous run stored (the smallest seq its
// state depended on). A replay that starts late sees conditions that began
// before its start as beginning at its start; events caused by readings
// below the checkpoint's Done, which the previous run settled, are
// therefore never emitted again. Either way a restart in the middle of an
// excursion leaves one excursion event in the log, not two, and the log
// ends up with the events an uninterrupted run would have written. Renaming
// a rule gives its events a new identity.
package conditions
