// Package point is rivulet's unit of data: a measurement, sorted tags, typed
// fields and a timestamp in nanoseconds — the InfluxDB line-protocol model.
//
// Every stage speaks it: ingest decodes payloads into points, the ingest log
// and the outboxes store them as line protocol, the engine aggregates them and
// the sinks write them upstream. Points are plain values; a Point handed to a
// function is borrowed for the duration of the call unless its doc says
// otherwise.
//
// Parse, ParsePrecision and Decoder.Parse read the common subset of line
// protocol with a Scanner, which neither copies nor allocates, and hand
// the rest of a buffer, from the first entry outside that subset, to
// lineprotocol.Decoder. Both give the same points and the same errors;
// reference_test.go holds them to a copy of the lineprotocol-only parser.
package point
