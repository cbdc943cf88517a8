package ingest

import (
	"fmt"
	"net"
)

// BrokerConfig is the `embedded_broker` section: an MQTT broker inside the
// agent for sites without one, the demo and the tests.
type BrokerConfig struct {
	Enabled bool   `mapstructure:"enabled"`
	Listen  string `mapstructure:"listen"`
}

// DefaultBroker returns the embedded broker defaults.
func DefaultBroker() BrokerConfig { return BrokerConfig{Listen: "127.0.0.1:1883"} }

// Validate checks the section; messages start with the relative key path.
func (c BrokerConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: must be host:port, got %q", c.Listen)
	}
	return nil
}
