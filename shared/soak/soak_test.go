package soak_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/soak"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestSoak_OneMinute is the chaos soak of `make test`: a minute of sales
// under every fault the ten-minute soak brings (lost webhooks, 5xx and 429
// answers, agents and a replica SIGKILLed, PostgreSQL crashed, hand edits,
// completions, cancellations and refunds), at a rate the rest of the suite
// running beside it leaves room for. Every check must pass: nothing lost
// or counted twice, nothing oversold by the allocate stores, every outbox
// empty, no process dying on its own. The stores must settle within a
// minute here; the 5-second bar is the soak command's, on a machine of its
// own.
func TestSoak_OneMinute(t *testing.T) {
	cfg := soak.DefaultConfig()
	cfg.Duration = time.Minute
	cfg.OrdersPerSecond = 40
	cfg.SKUs = 20
	cfg.RateLimit = 60
	cfg.AgentKillEvery = 40 * time.Second
	cfg.ReplicaKillEvery = 30 * time.Second
	cfg.PostgresCrashAt = 25 * time.Second
	cfg.EditEvery = 5 * time.Second
	cfg.StatusEvery = 500 * time.Millisecond
	cfg.SampleEvery = 20 * time.Second
	cfg.ConvergeWithin = time.Minute
	cfg.Dir = systest.PostgresDir(t)
	cfg.BinDir = systest.Binaries(t)
	cfg.Logf = t.Logf
	var table strings.Builder
	res, err := soak.Run(t.Context(), cfg, &table)
	t.Log("\n" + table.String())
	if err != nil {
		t.Fatal(err)
	}
	var kills int
	for _, st := range res.Stores {
		kills += st.AgentKills
	}
	if res.OrdersInStores < 1000 || kills < 3 || res.ReplicaKills < 1 || res.PostgresCrashes != 1 {
		t.Fatalf("the soak did not run as configured: %d orders, %d agent kills, %d replica kills, %d PostgreSQL crashes",
			res.OrdersInStores, kills, res.ReplicaKills, res.PostgresCrashes)
	}
}
