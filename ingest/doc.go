// Package ingest receives sensor data and turns it into points: MQTT
// sources, payload decoding, topic-to-tag mapping, the quarantine of
// payloads that cannot be decoded, and an embedded MQTT broker.
//
// # Topics and payloads
//
// A Router holds one Rule per configured topic filter, in config order; the
// first rule whose filter matches a topic (MQTT semantics) decodes its
// payloads. Rule.Decode appends normalized line protocol: one line per
// point, tags sorted, nanosecond timestamps, no timestamp for points that
// carry none (the engine gives them their ingest time). Formats are value
// (a bare number, boolean or text), influx (line protocol in a configured
// precision) and json (an object or array of objects, nested members
// flattened with '_'). Tag templates fill in topic segments: {1} of
// "site/kitchen/temp" is "kitchen". Decode errors are *DecodeError and say
// what was wrong and where.
//
// # Delivery contract
//
// An MQTT source calls its Handler from one goroutine, in arrival order.
// Nothing is acknowledged to the broker but through Message.Ack, which the
// handler calls once the message is durable, in arrival order (DESIGN
// contract 1). A payload that does not decode, or matches no rule, is
// quarantined and still handed over, with no points, so that its ack goes
// out in order: it is never redelivered forever and never crashes the
// agent. With a QoS > 0 topic the source keeps a persistent session under
// its fixed client id, so the broker holds messages while the agent is away
// and redelivers what was not acked, with Dup set and the same Fingerprint
// (contract 7). Memory is bounded (contract 10): a small queue sits between
// the MQTT client and the handler, and when the handler blocks the client
// stops reading, so QoS 1 messages wait in the broker.
//
// # Acks and connections
//
// An ack given after the connection that delivered the message was lost is
// dropped by the client library; the broker redelivers the message on the
// next connection. When Run stops, it first stops handing messages over,
// gives the handler a moment to ack what it holds, then disconnects.
package ingest
