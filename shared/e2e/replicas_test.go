package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// hubAddrs lists every hub replica's address, replica-0 first.
func (s *system) hubAddrs() []string {
	addrs := []string{s.hub.Addr}
	for _, r := range s.replicas {
		addrs = append(addrs, r.Addr)
	}
	return addrs
}

// hubURLs is the agent's --hub for store idx: every replica, starting with
// replica idx mod their number.
func (s *system) hubURLs(idx int) string {
	addrs := s.hubAddrs()
	urls := make([]string, len(addrs))
	for i := range addrs {
		urls[i] = "http://" + addrs[(idx+i)%len(addrs)]
	}
	return strings.Join(urls, ",")
}

// sessionsOn returns the number of agent sessions the hub at addr holds
// (its stockwire_hub_agents_connected gauge).
func sessionsOn(addr string) (int, error) {
	n, found, err := scrapeMetric(addr, "stockwire_hub_agents_connected")
	if err == nil && !found {
		err = errors.New("no stockwire_hub_agents_connected in /metrics")
	}
	return int(n), err
}

// checkSessions reports the first way in which the stores' sessions differ
// from want (store index → replica name): each store connected on that
// replica in GET /api/v1/stores, and the live replicas (addrs) holding one
// session per store between them.
func (s *system) checkSessions(addrs []string, want map[int]string) error {
	var list struct {
		Stores []struct {
			ID    int64 `json:"id"`
			Agent struct {
				Connected bool   `json:"connected"`
				Replica   string `json:"replica"`
			} `json:"agent"`
		} `json:"stores"`
	}
	if err := s.tryAPIAt(addrs[len(addrs)-1], http.MethodGet, "/api/v1/stores", nil, &list); err != nil {
		return err
	}
	stores := list.Stores
	byID := map[int64]int{}
	for i, st := range stores {
		byID[st.ID] = i
	}
	for idx, replica := range want {
		i, ok := byID[s.stores[idx].id]
		if !ok {
			return fmt.Errorf("%s not listed", s.stores[idx].name)
		}
		if a := stores[i].Agent; !a.Connected || a.Replica != replica {
			return fmt.Errorf("%s: connected=%v on %q, want connected on %s", s.stores[idx].name, a.Connected, a.Replica, replica)
		}
	}
	total := 0
	for _, addr := range addrs {
		n, err := sessionsOn(addr)
		if err != nil {
			return err
		}
		total += n
	}
	if total != len(want) {
		return fmt.Errorf("the replicas hold %d sessions between them, want one per store (%d)", total, len(want))
	}
	return nil
}

// Two replicas: each store's agent on its own replica; stock changes made
// through either replica's API and sales in either store reach every store.
func TestReplicas_ChangesReachAgentsOnOtherReplicas(t *testing.T) {
	s := newSystemWith(t, systemOptions{stores: 2, skus: 10, onHand: 50, replicas: 2})
	addrs := s.hubAddrs()
	systest.WaitFor(t, 30*time.Second, "initial convergence", s.converged)
	systest.WaitFor(t, 10*time.Second, "one session per store, each on its own replica", func() error {
		return s.checkSessions(addrs, map[int]string{0: "replica-0", 1: "replica-1"})
	})

	// Receipts entered through replica-1 reach store-0, whose agent is on
	// replica-0, and the other way round.
	skus := s.stores[0].sim.Store.SKUs()
	for i, sku := range skus {
		addr := addrs[i%2]
		if err := s.tryAPIAt(addr, http.MethodPost, "/api/v1/adjustments", map[string]any{
			"sku": sku, "location": "main", "delta": 3 + i, "reason": "receipt",
			"idempotency_key": "replica-receipt-" + sku}, nil); err != nil {
			t.Fatal(err)
		}
	}
	systest.WaitFor(t, 5*time.Second, "receipts through both replicas reach both stores", s.converged)

	// Sales in each store, reported through its own replica.
	total := s.shop(40)
	s.checkCommitted(t, total, 30*time.Second)
	systest.WaitFor(t, 5*time.Second, "convergence after the sales", s.converged)

	// Another connection for store-0 on replica-1 replaces the agent's
	// session on replica-0; the agent reconnects, moving on to replica-1,
	// and replaces that connection in turn: one live session at a time.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	intruder, _, err := websocket.Dial(ctx, "ws://"+addrs[1]+wire.AgentPath, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + s.stores[0].token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.CloseNow()
	hello, _ := wire.Encode(wire.TypeHello, "", wire.Hello{LastSeq: 1 << 40})
	if err := intruder.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	var closeErr error
	for closeErr == nil {
		_, _, closeErr = intruder.Read(ctx)
	}
	if got := websocket.CloseStatus(closeErr); got != websocket.StatusPolicyViolation {
		t.Fatalf("the intruding session ended with %v, want 1008 (replaced)", closeErr)
	}
	systest.WaitFor(t, 10*time.Second, "store-0's agent back, on replica-1", func() error {
		return s.checkSessions(addrs, map[int]string{0: "replica-1", 1: "replica-1"})
	})
	for sku, n := range s.shop(8) {
		total[sku] += n
	}
	s.checkCommitted(t, total, 30*time.Second)
	systest.WaitFor(t, 10*time.Second, "convergence with both agents on replica-1", s.converged)
}

// Three replicas; one is killed with SIGKILL while the stores sell and the
// ERP adjusts stock. Its agent moves to the next replica, every order is
// counted once and every store converges.
func TestReplicas_KillOneReplicaMidTraffic(t *testing.T) {
	s := newSystemWith(t, systemOptions{stores: 3, skus: 10, onHand: 300, replicas: 3})
	addrs := s.hubAddrs()
	systest.WaitFor(t, 30*time.Second, "initial convergence", s.converged)
	systest.WaitFor(t, 10*time.Second, "one session per store, each on its own replica", func() error {
		return s.checkSessions(addrs, map[int]string{0: "replica-0", 1: "replica-1", 2: "replica-2"})
	})

	var mu sync.Mutex
	total := map[string]int64{}
	add := func(m map[string]int64) {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range m {
			total[k] += v
		}
	}
	add(s.shop(40))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		add(s.shop(80))
	}()
	s.replicas[0].Kill() // replica-1, mid-traffic
	killed := time.Now()
	live := []string{addrs[0], addrs[2]}
	systest.WaitFor(t, 10*time.Second, "store-1's agent moved to replica-2", func() error {
		return s.checkSessions(live, map[int]string{0: "replica-0", 1: "replica-2", 2: "replica-2"})
	})
	t.Logf("store-1's agent connected to replica-2 %s after replica-1 was killed", time.Since(killed).Round(time.Millisecond))
	skus := s.stores[0].sim.Store.SKUs()
	for i, sku := range skus {
		if err := s.tryAPIAt(addrs[2], http.MethodPost, "/api/v1/adjustments", map[string]any{
			"sku": sku, "location": "main", "delta": 1 + i, "reason": "receipt",
			"idempotency_key": "during-kill-" + sku}, nil); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	add(s.shop(40))

	s.checkCommitted(t, total, 60*time.Second)
	systest.WaitFor(t, 15*time.Second, "convergence after the kill", s.converged)
	if err := s.checkSessions(live, map[int]string{0: "replica-0", 1: "replica-2", 2: "replica-2"}); err != nil {
		t.Fatal(err)
	}
}
