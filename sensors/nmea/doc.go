// Package nmea decodes NMEA 0183 output of GPS/GNSS receivers into
// sensors.Readings.
//
// ParseSentence is a pure parser for one sentence: GGA, RMC, GLL, VTG,
// GSA, GNS and ZDA from any talker (GP, GN, GL, GA, BD, GB, GQ, GI, ...).
// It verifies the checksum (hex digits in either case), accepts lines up
// to MaxLineLen bytes (RTK receivers exceed NMEA's 82 characters) and
// tolerates whitespace and control bytes around the sentence. Glued or
// broken sentences, wrong field counts and out-of-range values are
// errors (*SentenceError) with a short reason such as
// "bad checksum: got 4A, computed 4B". Proprietary "$P..." sentences and
// standard types it does not decode (GSV, GST, TXT, ...) are returned
// unparsed, not as errors.
//
// Decoder implements sensors.LineDecoder: it merges the sentences of one
// fix epoch into one reading of kind "gps", records fix loss and recovery
// as "status" readings, takes GPS time as the reading's time only for a
// valid fix with a known date, and refuses to trust dates that look like
// a GPS week-number rollover. See Decoder for the data keys.
//
// Decimator thins gps readings by time and distance for the daemon.
//
// Behaviour on edge cases follows what gpsd reports for the captures in
// its regression suite; the tests replay them.
package nmea
