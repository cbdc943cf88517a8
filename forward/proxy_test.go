package forward

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxyMode is how faultProxy treats connections.
type proxyMode int

const (
	proxyPass      proxyMode = iota // forward both ways
	proxyRefuse                     // no listener: connection refused
	proxyBlackHole                  // accept, read, never answer
	proxyReset                      // accept, then reset
	proxyDropReply                  // forward the request, drop the answer and close
)

// faultProxy is a TCP proxy to one upstream whose failure mode can be
// switched; switching closes the connections it holds.
type faultProxy struct {
	t        testing.TB
	addr     string
	upstream string

	mu    sync.Mutex
	mode  proxyMode
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newFaultProxy(t testing.TB, upstream string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, addr: ln.Addr().String(), upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.set(proxyRefuse)
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			mode := p.mode
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c, mode)
			}()
		}
	}()
}

// set switches the mode and drops every open connection.
func (p *faultProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	switch {
	case m == proxyRefuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
	case m != proxyRefuse && p.ln == nil:
		// The port may be taken in between; retry briefly.
		var ln net.Listener
		var err error
		for range 50 {
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			p.t.Errorf("proxy relisten %s: %v", p.addr, err)
			return
		}
		p.serve(ln)
	}
}

func (p *faultProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *faultProxy) handle(c net.Conn, mode proxyMode) {
	defer p.forget(c)
	switch mode {
	case proxyRefuse:
		// Accepted just as the listener was being closed: refuse it too.
		return
	case proxyBlackHole:
		_, _ = io.Copy(io.Discard, c)
		return
	case proxyReset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.forget(up)
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	if mode == proxyDropReply {
		// Wait for the upstream's answer (it has applied the write), then
		// hang up on the client without passing it on.
		buf := make([]byte, 1)
		_, _ = up.Read(buf)
		return
	}
	_, _ = io.Copy(c, up)
}
