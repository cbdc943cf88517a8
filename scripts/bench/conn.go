package main

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// An experiment for perf-notes: paho reads every packet with at least three
// read(2) calls (fixed header byte, length, body) straight from the socket
// and writes every PUBACK with its own write(2). -bare-conn buffered gives
// the bare subscriber a buffered reader; -bare-conn coalesced also batches
// writes behind a flusher goroutine (writes issued while one is in flight
// go out together, as a group commit does).

// dialer returns paho's connection function for kind ("" keeps paho's).
func dialer(kind string) mqtt.OpenConnectionFunc {
	if kind == "" || kind == "plain" {
		return nil
	}
	return func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		c, err := net.Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		bc := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
		if kind == "coalesced" {
			bc.kick = make(chan struct{}, 1)
			bc.done = make(chan struct{})
			go bc.flusher()
		}
		return bc, nil
	}
}

type bufConn struct {
	net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
	out  []byte
	err  error
	kick chan struct{}
	done chan struct{}
	once sync.Once
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufConn) Write(p []byte) (int, error) {
	if c.kick == nil {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, c.err
	}
	c.out = append(c.out, p...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *bufConn) flusher() {
	var spare []byte
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		}
		c.mu.Lock()
		b := c.out
		c.out = spare[:0]
		c.mu.Unlock()
		if len(b) > 0 {
			if _, err := c.Conn.Write(b); err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
			}
		}
		spare = b
	}
}

func (c *bufConn) Close() error {
	if c.done != nil {
		c.once.Do(func() { close(c.done) })
	}
	return c.Conn.Close()
}

// outboundStore is the -bare-store outbound experiment: paho's MemoryStore
// keeping no inbound packets (keys "i.<id>"), as the store of rivulet's
// source does (ingest/mqtt_store.go), so that the bare subscriber's CPU
// per message can be compared with and without paho's inbound bookkeeping.
type outboundStore struct{ *mqtt.MemoryStore }

func (s outboundStore) Put(key string, m packets.ControlPacket) {
	if !strings.HasPrefix(key, "i.") {
		s.MemoryStore.Put(key, m)
	}
}

func (s outboundStore) Del(key string) {
	if !strings.HasPrefix(key, "i.") {
		s.MemoryStore.Del(key)
	}
}
