package ingest

import "time"

// SetAckGrace shortens how long a stopping source waits for acks, for tests
// whose handler never acks.
func SetAckGrace(s *MQTT, d time.Duration) { s.ackGrace = d }
