package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/procstat"
	"github.com/stockwire/stockwire/shared/wire"
)

// FanoutResult is the fan-out run.
type FanoutResult struct {
	Sessions int
	Rounds   int
	// Latency: from sending the count change (PUT on_hand) to its
	// stock.changes message arriving, one sample per (round, session).
	Latency Distribution
	// Put is the count change's own round trip (commit included).
	Put Distribution
	// Missed counts (round, session) pairs whose change never arrived
	// within the round timeout.
	Missed int
	// Dropped counts sessions the hub ended during the run.
	Dropped int
	// Connect is the time to open every session and receive its snapshot.
	Connect time.Duration
	// HubIdle is the hub's memory with the stores created and no session;
	// Hub with every session open, after the rounds.
	HubIdle, Hub procstat.Memory
	Phase        Phase
}

const (
	fanoutSKU = "FANOUT-1"
	// fanoutBase is the SKU's count before the rounds; round r sets it to
	// fanoutBase + r, so a session tells the rounds apart by the target.
	fanoutBase = 1000
	// fanoutRoundTimeout bounds the wait for one change to reach every
	// session.
	fanoutRoundTimeout = 15 * time.Second
	// fanoutRoundGap separates rounds, so that the hub's per-session
	// housekeeping after one change (agent state writes, once a second)
	// is not counted in the next one.
	fanoutRoundGap = 1500 * time.Millisecond
)

// fanout opens cfg.Sessions agent sessions on a fresh hub and times one
// count change reaching all of them, over cfg.Rounds rounds.
func (b *bench) fanout(ctx context.Context) (FanoutResult, error) {
	res := FanoutResult{Sessions: b.cfg.Sessions, Rounds: b.cfg.Rounds}
	b.logf("fanout: starting hub")
	h, err := b.startHub(ctx, "fanout")
	if err != nil {
		return res, err
	}
	defer h.stop()
	if err := h.setOnHand(ctx, fanoutSKU, fanoutBase); err != nil {
		return res, err
	}

	b.logf("fanout: creating %d stores", b.cfg.Sessions)
	tokens := make([]string, b.cfg.Sessions)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range tokens {
		g.Go(func() error {
			var err error
			_, tokens[i], err = h.createStore(gctx, fmt.Sprintf("load-%d", i), fmt.Sprintf("http://load-%d.invalid", i))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if res.HubIdle, err = procstat.ReadMemory(h.pid()); err != nil {
		return res, err
	}

	b.logf("fanout: opening %d sessions", b.cfg.Sessions)
	start := time.Now()
	load, err := openSessions(ctx, h, tokens, b.cfg.Rounds)
	if err != nil {
		return res, err
	}
	defer load.close()
	if err := launch.Poll(ctx, 2*time.Minute, "every session has its snapshot", func() error {
		if n := load.snapshots.Load(); n < int64(len(tokens)) {
			return fmt.Errorf("%d of %d snapshots", n, len(tokens))
		}
		return nil
	}); err != nil {
		return res, err
	}
	res.Connect = time.Since(start)

	b.logf("fanout: %d rounds", b.cfg.Rounds)
	var latencies, puts []time.Duration
	err = b.measure(ctx, h, "fanout", nil, &res.Phase, func() error {
		for r := 1; r <= b.cfg.Rounds; r++ {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(fanoutRoundGap):
			}
			sent := time.Now()
			if err := h.setOnHand(ctx, fanoutSKU, fanoutBase+int64(r)); err != nil {
				return err
			}
			puts = append(puts, time.Since(sent))
			err := launch.Poll(ctx, fanoutRoundTimeout, fmt.Sprintf("round %d reaches every session", r), func() error {
				if n := load.received(r); n < len(tokens) {
					return fmt.Errorf("%d of %d sessions", n, len(tokens))
				}
				return nil
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				b.logf("fanout: %v", err)
			}
			got := load.latencies(r, sent)
			latencies = append(latencies, got...)
			res.Missed += len(tokens) - len(got)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Latency, res.Put = summarize(latencies), summarize(puts)
	res.Dropped = int(load.dropped.Load())
	if res.Hub, err = procstat.ReadMemory(h.pid()); err != nil {
		return res, err
	}
	return res, nil
}

// loadTool holds protocol-speaking agent sessions: each says hello with
// its store's credential and reads what the hub sends, noting when each
// round's change arrives. It applies nothing.
type loadTool struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	conns     []*websocket.Conn
	arrivals  [][]atomic.Int64 // by session, then round-1: unix nanoseconds
	snapshots atomic.Int64     // sessions that received their snapshot
	dropped   atomic.Int64     // sessions ended by the hub
}

// openSessions dials one session per credential, with a few dials at a
// time.
func openSessions(ctx context.Context, h *hubProc, tokens []string, rounds int) (*loadTool, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &loadTool{cancel: cancel, conns: make([]*websocket.Conn, len(tokens)), arrivals: make([][]atomic.Int64, len(tokens))}
	wsURL := "ws" + strings.TrimPrefix(h.base, "http") + wire.AgentPath
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i, token := range tokens {
		l.arrivals[i] = make([]atomic.Int64, rounds)
		g.Go(func() error {
			conn, err := dialAgent(gctx, wsURL, token)
			if err != nil {
				return err
			}
			l.conns[i] = conn
			return nil
		})
	}
	err := g.Wait()
	// Readers start only once every dial has returned, so that close never
	// races a dial.
	for i, conn := range l.conns {
		if conn != nil {
			l.wg.Go(func() { l.read(sctx, conn, l.arrivals[i]) })
		}
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// dialAgent opens a session and says hello as a new agent.
func dialAgent(ctx context.Context, wsURL, token string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	conn.SetReadLimit(wire.MaxMessageBytes)
	hello, err := wire.Encode(wire.TypeHello, "", wire.Hello{AgentVersion: "linkbench"})
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if err := conn.Write(dctx, websocket.MessageText, hello); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("send hello: %w", err)
	}
	return conn, nil
}

// read notes the snapshot and the arrival of each round's change until the
// connection ends.
func (l *loadTool) read(ctx context.Context, conn *websocket.Conn, arrivals []atomic.Int64) {
	defer conn.CloseNow()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.dropped.Add(1)
			}
			return
		}
		now := time.Now().UnixNano()
		env, err := wire.Decode(data)
		if err != nil {
			continue
		}
		switch env.Type {
		case wire.TypeSnapshot:
			l.snapshots.Add(1)
		case wire.TypeChanges:
			var c wire.Changes
			if wire.DecodePayload(env, &c) != nil {
				continue
			}
			for _, ch := range c.Changes {
				if r := ch.Target - fanoutBase; ch.SKU == fanoutSKU && r >= 1 && r <= int64(len(arrivals)) {
					arrivals[r-1].CompareAndSwap(0, now)
				}
			}
		}
	}
}

// received is the number of sessions that got round r's change.
func (l *loadTool) received(r int) int {
	n := 0
	for i := range l.arrivals {
		if l.arrivals[i][r-1].Load() != 0 {
			n++
		}
	}
	return n
}

// latencies returns, for every session that got round r's change, the time
// from sent to its arrival.
func (l *loadTool) latencies(r int, sent time.Time) []time.Duration {
	var out []time.Duration
	for i := range l.arrivals {
		if at := l.arrivals[i][r-1].Load(); at != 0 {
			out = append(out, time.Unix(0, at).Sub(sent))
		}
	}
	return out
}

// close ends every session and waits for the readers.
func (l *loadTool) close() {
	l.cancel()
	l.wg.Wait()
	for _, conn := range l.conns {
		if conn != nil {
			conn.CloseNow()
		}
	}
}
