//go:build nokafka

package forward

import (
	"errors"
	"log/slog"
)

// errNoKafka is what a build without Kafka support says of a kafka sink.
var errNoKafka = errors.New("type: this build has no Kafka support (built with -tags nokafka)")

// kafkaSink does not exist in a build without Kafka support.
type kafkaSink struct{ Sink }

func (c Config) validateKafka() []error { return []error{errNoKafka} }

func newKafka(Config, *slog.Logger) (*kafkaSink, error) { return nil, errNoKafka }
