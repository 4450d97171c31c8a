package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stockwire/stockwire/shared/procstat"
)

// killAgents SIGKILLs the agents but store-0's in turn, so that each dies
// about every AgentKillEvery, and starts each again 1–3 s later on the same
// data directory.
func (s *system) killAgents(ctx, traffic context.Context) {
	victims := make([]*process, 0, len(s.stores))
	for _, st := range s.stores[1:] {
		victims = append(victims, st.agent)
	}
	s.killInTurn(ctx, traffic, victims, s.cfg.AgentKillEvery, 1*time.Second, 3*time.Second)
}

// killReplicas does the same to the hub replicas but replica-0.
func (s *system) killReplicas(ctx, traffic context.Context) {
	s.killInTurn(ctx, traffic, s.replicas[1:], s.cfg.ReplicaKillEvery, 2*time.Second, 4*time.Second)
}

// killInTurn kills victims one after the other, each about every period,
// and restarts each after a pause between down and maxDown. A restart
// finishes even when the traffic stops meanwhile.
func (s *system) killInTurn(ctx, traffic context.Context, victims []*process, period, down, maxDown time.Duration) {
	if period == 0 || len(victims) == 0 {
		return
	}
	next := 0
	every(traffic, period/time.Duration(len(victims)), func() {
		p := victims[next%len(victims)]
		next++
		p.kill()
		s.cfg.Logf("%s: SIGKILL %s", s.since(), p.name)
		pause := time.NewTimer(down + rand.N(maxDown-down))
		defer pause.Stop()
		select {
		case <-pause.C:
		case <-ctx.Done():
			return
		}
		if err := p.start(ctx); err != nil {
			s.res.mu.Lock()
			s.res.SlowRestarts = append(s.res.SlowRestarts, fmt.Sprintf("%s at %s: %v", p.name, s.since(), err))
			s.res.mu.Unlock()
		}
	})
}

// crashPostgres crashes PostgreSQL once, at PostgresCrashAt.
func (s *system) crashPostgres(ctx, traffic context.Context) {
	if s.cfg.PostgresCrashAt == 0 {
		return
	}
	t := time.NewTimer(s.cfg.PostgresCrashAt)
	defer t.Stop()
	select {
	case <-traffic.Done():
		return
	case <-t.C:
	}
	s.cfg.Logf("%s: PostgreSQL crashes (immediate stop), down for %s", s.since(), s.cfg.PostgresDown)
	if err := s.env.Cluster.Crash(ctx, s.cfg.PostgresDown); err != nil {
		s.res.fail("PostgreSQL crash and restart: %v", err)
		return
	}
	s.res.mu.Lock()
	s.res.PostgresCrashes++
	s.res.mu.Unlock()
}

// sample records the long-lived processes' memory and goroutines, at the
// start and then every SampleEvery.
func (s *system) sample(_, traffic context.Context) {
	take := func() {
		sm := Sample{At: s.since(), HubRSS: -1, AgentRSS: -1, HubGoroutines: -1, AgentGoroutines: -1}
		for _, st := range s.stores {
			sm.Orders += st.stats.orders.Load()
		}
		hub, agent := s.replicas[0], s.stores[0].agent
		if pid, ok := hub.running(); ok {
			if m, err := procstat.ReadMemory(pid); err == nil {
				sm.HubRSS = m.RSS
			}
		}
		if pid, ok := agent.running(); ok {
			if m, err := procstat.ReadMemory(pid); err == nil {
				sm.AgentRSS = m.RSS
			}
		}
		if n, err := s.goroutines(traffic, hub); err == nil {
			sm.HubGoroutines = n
		}
		if n, err := s.goroutines(traffic, agent); err == nil {
			sm.AgentGoroutines = n
		}
		s.res.mu.Lock()
		s.res.Samples = append(s.res.Samples, sm)
		s.res.mu.Unlock()
	}
	take()
	every(traffic, s.cfg.SampleEvery, take)
}
