package ingest_test

import (
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// startBroker starts an embedded broker on addr, closed by t.Cleanup.
func startBroker(t *testing.T, addr string) *ingest.Broker {
	t.Helper()
	b, err := ingest.NewBroker(ingest.BrokerConfig{Enabled: true, Listen: addr}, ingesttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBrokerPublishReceive(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	if strings.HasSuffix(b.Addr(), ":0") || !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr %q", b.Addr())
	}
	url := "tcp://" + b.Addr()
	got := make(chan paho.Message, 1)
	sub := ingesttest.Client(t, url, "sub")
	tok := sub.Subscribe("a/+", 1, func(_ paho.Client, m paho.Message) { got <- m })
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ingesttest.Publish(t, url, "a/b", 1, "hello")
	m := <-got
	if m.Topic() != "a/b" || string(m.Payload()) != "hello" || m.Qos() != 1 {
		t.Fatalf("got %s %q qos %d", m.Topic(), m.Payload(), m.Qos())
	}
	sub.Disconnect(250)
	// mochi counts a message sent after the write that delivered it.
	ingesttest.WaitFor(t, waitTimeout, "broker stats", func() bool {
		st := b.Stats()
		return st.MessagesReceived >= 1 && st.MessagesSent >= 1
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := b.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestBrokerErrors(t *testing.T) {
	if _, err := ingest.NewBroker(ingest.BrokerConfig{Listen: "nonsense"}, nil); err == nil {
		t.Fatal("bad listen address accepted")
	}
	b := startBroker(t, "127.0.0.1:0")
	if err := b.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	taken, err := ingest.NewBroker(ingest.BrokerConfig{Listen: b.Addr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if err := taken.Start(); err == nil {
		t.Fatal("Start on a taken port succeeded")
	}
}
