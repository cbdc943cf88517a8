package ingest

import (
	"bufio"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// paho reads each packet with at least three read(2) calls (the fixed
// header byte, the length byte by byte, the body) straight from the socket
// and writes every PUBACK with its own write(2): at tens of thousands of
// QoS 1 messages a second that is about a fifth of the agent's CPU. For
// plain TCP brokers the source dials a connection that reads through a
// buffer and writes behind: a Write queues its bytes and a flusher writes
// whatever accumulated while its previous write was in flight, so the
// PUBACKs of one group commit leave in one segment. A failed write fails
// the next Write and Close; a PUBACK lost that way is a redelivery, which
// the batcher recognises.

// bufferedDialer returns the connection function for a broker URL whose
// scheme is plain TCP, and nil (paho's own) for TLS and WebSockets.
func bufferedDialer(broker string) paho.OpenConnectionFunc {
	u, err := url.Parse(broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
		return nil
	}
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		d := net.Dialer{Timeout: o.ConnectTimeout}
		c, err := d.Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		return newBufConn(c), nil
	}
}

// bufConn is a net.Conn with a read buffer and a write-behind queue.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu     sync.Mutex
	out    []byte // queued for the flusher
	err    error  // the first failed write
	kick   chan struct{}
	idle   *sync.Cond // signalled when the flusher has written everything queued
	busy   bool
	closed bool
}

func newBufConn(c net.Conn) *bufConn {
	b := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), kick: make(chan struct{}, 1)}
	b.idle = sync.NewCond(&b.mu)
	go b.flusher()
	return b
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p; it fails once an earlier write has failed.
func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil || c.closed {
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return 0, err
	}
	c.out = append(c.out, p...)
	select { // under mu: Close closes kick under it
	case c.kick <- struct{}{}:
	default:
	}
	c.mu.Unlock()
	return len(p), nil
}

func (c *bufConn) flusher() {
	var spare []byte
	for range c.kick {
		c.mu.Lock()
		b := c.out
		c.out, c.busy = spare[:0], len(b) > 0
		c.mu.Unlock()
		if len(b) > 0 {
			_, err := c.Conn.Write(b)
			c.mu.Lock()
			if err != nil && c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
		}
		spare = b
		c.mu.Lock()
		c.busy = false
		if len(c.out) == 0 {
			c.idle.Broadcast()
		}
		c.mu.Unlock()
	}
}

// Close writes what is queued (the last PUBACKs, DISCONNECT), waiting at
// most a second, then closes the socket.
func (c *bufConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		for (len(c.out) > 0 || c.busy) && c.err == nil {
			select {
			case c.kick <- struct{}{}:
			default:
			}
			c.idle.Wait()
		}
		close(c.kick)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}
