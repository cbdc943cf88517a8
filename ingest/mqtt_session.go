package ingest

import (
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// session is the state of one Run: who may call the handler, and the
// count of messages it holds unacked.
//
// paho calls onMessage from one goroutine, in arrival order (OrderMatters);
// onConnect and onLost each run on a goroutine of their own. Each calls the
// handler itself, once it holds the turn, so Handle and Connected never run
// concurrently and keep the order in which they got it. No goroutine sits
// in between: a message costs no extra hand-over and wake-up; the
// batcher's queue (batch.queue) is the buffer that lets paho keep reading
// while a commit syncs. When it is full Handle blocks paho: the
// backpressure.
type session struct {
	s *MQTT
	// turn is a semaphore of one: whoever sends into it may call the
	// handler, and receives from it when done. Waiting for the turn always
	// also watches closing, so nothing blocks past the close on it.
	turn    chan struct{}
	closing chan struct{} // closed when Run stops passing messages on
	done    chan struct{} // closed once the last handler call has returned
	// unacked counts QoS > 0 messages handed over and not yet acked; idle
	// gets a token whenever it drops to zero.
	unacked   atomic.Int64
	idle      chan struct{}
	connected atomic.Bool
	up        bool // last state reported to the handler; holder of turn only
}

// event is a message or, when m is nil, a change of connection state.
type event struct {
	m  *Message
	up bool
}

func newSession(s *MQTT) *session {
	return &session{s: s, turn: make(chan struct{}, 1), closing: make(chan struct{}),
		done: make(chan struct{}), idle: make(chan struct{}, 1)}
}

// onMessage is paho's default publish handler: every message arrives here.
func (ss *session) onMessage(_ paho.Client, pm paho.Message) {
	select {
	case <-ss.closing:
		ss.s.stats.dropped.Add(1) // not acked: a QoS > 0 message stays with the broker
		return
	default:
	}
	if !ss.post(event{m: ss.s.message(ss, pm)}) {
		ss.s.stats.dropped.Add(1)
	}
}

// post passes ev to the handler once it has the turn, unless the session
// is closing first; it blocks while another call holds the turn.
func (ss *session) post(ev event) bool {
	select {
	case ss.turn <- struct{}{}: // the common case, without a full select
	default:
		select {
		case ss.turn <- struct{}{}:
		case <-ss.closing:
			return false
		}
	}
	select {
	case <-ss.closing:
		// Closed before the turn was taken (or both were ready and
		// select chose the turn): closing wins.
		<-ss.turn
		return false
	default:
	}
	ss.dispatch(ev)
	<-ss.turn
	return true
}

// onConnect runs after every connect and reconnect: it subscribes, again,
// then tells the handler.
//
// The source counts as connected (Stats, the log line, Connected(true))
// only once the broker has confirmed the subscriptions: before that,
// messages published to the topics may not be kept for this session, so
// nothing that waits for "connected" may start publishing earlier.
func (ss *session) onConnect(c paho.Client) {
	s := ss.s
	n := s.stats.connects.Add(1)
	if !ss.subscribe(c) {
		return
	}
	s.logger.Info("connected to broker", "broker", s.cfg.Broker, "reconnect", n > 1, "persistent_session", s.persistent,
		"subscribed", len(s.filters))
	ss.connected.Store(true)
	ss.post(event{up: true})
}

// subscribe subscribes to every filter and reports whether the broker
// confirmed them all.
func (ss *session) subscribe(c paho.Client) bool {
	s := ss.s
	tok := c.SubscribeMultiple(s.filters, nil)
	t := time.NewTimer(subscribeTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-t.C:
		s.stats.subscribeErrors.Add(1)
		s.logger.Error("subscribe timed out", "filters", len(s.filters))
		return false
	case <-ss.closing:
		return false
	}
	if err := tok.Error(); err != nil {
		s.stats.subscribeErrors.Add(1)
		s.logger.Error("subscribe failed", "err", err)
		return false
	}
	st, _ := tok.(*paho.SubscribeToken)
	if st == nil {
		return true
	}
	ok := true
	for filter, code := range st.Result() {
		if code > 2 { // 0x80: the broker refused this filter
			s.stats.subscribeErrors.Add(1)
			s.logger.Error("broker refused subscription", "filter", filter, "code", code)
			ok = false
		}
	}
	return ok
}

// onLost runs when the connection drops; paho then reconnects by itself.
func (ss *session) onLost(_ paho.Client, err error) {
	ss.s.stats.losses.Add(1)
	ss.connected.Store(false)
	ss.s.logger.Warn("connection to broker lost; reconnecting", "broker", ss.s.cfg.Broker, "err", err)
	ss.post(event{up: false})
}

// finish takes the turn for good once the handler call in progress, if
// any, has returned (every later post sees closing), and reports the source
// down.
func (ss *session) finish() {
	defer close(ss.done)
	ss.turn <- struct{}{}
	ss.report(false)
}

func (ss *session) dispatch(ev event) {
	if ev.m == nil {
		ss.report(ev.up)
		return
	}
	if ev.m.QoS > 0 {
		ss.unacked.Add(1)
	}
	ss.s.h.Handle(ev.m)
}

// report tells the handler about a change of connection state.
func (ss *session) report(up bool) {
	if up == ss.up && !up {
		return // down twice, or down before ever up
	}
	ss.up = up
	ss.s.h.Connected(ss.s.cfg.Name, up)
}

// acked is called by Message.Ack of this session's messages.
func (ss *session) acked() {
	if ss.unacked.Add(-1) == 0 {
		select {
		case ss.idle <- struct{}{}:
		default:
		}
	}
}

// stop ends the run: no message is passed on any more, the handler gets
// ackGrace to ack what it was handed (acks after the disconnect are lost and
// the broker would redeliver), then the client disconnects.
func (ss *session) stop(c paho.Client) {
	close(ss.closing)
	go ss.finish()
	grace := time.NewTimer(ss.s.ackGrace)
	defer grace.Stop()
	expired := false
	select {
	case <-ss.done:
	case <-grace.C:
		expired = true
		ss.s.logger.Warn("handler did not return in time; disconnecting")
	}
	for !expired && ss.unacked.Load() > 0 {
		select {
		case <-ss.idle:
		case <-grace.C:
			expired = true
		}
	}
	if n := ss.unacked.Load(); n > 0 {
		ss.s.logger.Warn("messages left unacked at stop; the broker will redeliver them", "unacked", n)
	}
	ss.flush(c)
	c.Disconnect(disconnectQuiesce)
	ss.connected.Store(false)
}

// flush makes sure the broker has processed the acks sent so far before the
// disconnect. A broker that sees a new connection with our client id (a
// quick restart) takes the session over and may drop the old connection
// without reading what is left in its socket: acks included, so acked
// messages would come back. Packets of one connection are processed in
// order, so the reply to an UNSUBSCRIBE, sent after the acks, proves them
// read. The filter was never subscribed; unsubscribing it changes nothing.
func (ss *session) flush(c paho.Client) {
	if !ss.s.persistent || !c.IsConnectionOpen() {
		return
	}
	tok := c.Unsubscribe(flushFilter)
	if !tok.WaitTimeout(flushTimeout) || tok.Error() != nil {
		ss.s.logger.Debug("flush before disconnect did not complete", "err", tok.Error())
	}
}
