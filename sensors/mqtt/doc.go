// Package mqtt is the MQTT subscriber: it subscribes to sensor topics on a
// broker and turns their messages into sensors.Readings.
//
// Payload decoders are pure functions over bytes. DecodeTemperature,
// DecodeGPS and DecodeSeal take strict JSON objects (valid UTF-8, no
// duplicate or unknown members except under "extra", typed and
// range-checked fields); the nmea decoder feeds each line of a payload to a
// sensors/nmea Decoder kept per sensor across messages. Errors are
// *PayloadError, whose text is the quarantine reason. docs/MQTT.md is the
// reference for the payload schemas.
//
// Config maps topic filters to sensor ids (literal, or templated from the
// levels the filter's '+' wildcards matched) and decoders. Subscriber
// (New, Run) keeps a persistent session (clean session off, a stable client
// id) and acknowledges a QoS 1/2 message only after the sink accepted every
// reading decoded from it (paho manual acknowledgement), or after bad input
// in it was quarantined. A reading the sink refuses leaves its message
// unacknowledged, so the broker redelivers it on the next connection; Run
// reconnects after a backoff to make that happen. Readings that carry the
// sensor's own msg_id are deduplicated by the sink, which makes the
// redeliveries harmless.
package mqtt
