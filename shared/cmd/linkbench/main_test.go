package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
)

// TestRun runs every scenario at a tiny scale against real binaries and a
// real PostgreSQL, so that the benchmark cannot rot, and checks that the
// figures are sane.
func TestRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Fleets = []Fleet{{Stores: 2, Rate: 50}}
	cfg.Duration = 400 * time.Millisecond
	cfg.SKUs = 20
	cfg.IdleWindow = 500 * time.Millisecond
	cfg.Sessions = 10
	cfg.Rounds = 2
	cfg.FlashUnits = 10
	cfg.FlashStores = 2
	cfg.FlashAttempts = 40
	cfg.FlashWindow = 200 * time.Millisecond
	cfg.Fsync = false
	cfg.BinDir = systest.Binaries(t)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, cfg, &out, t.Output())
	t.Logf("figures:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Propagation", func(t *testing.T) {
		if got, want := len(rep.Propagation), 1; got != want {
			t.Fatalf("runs=%d, want %d", got, want)
		}
		r := rep.Propagation[0]
		if got, want := r.Checkouts, 20; got != want {
			t.Errorf("checkouts=%d, want %d", got, want)
		}
		if got, want := r.Deliveries.N, r.Checkouts*(r.Stores-1); got != want {
			t.Errorf("delivery samples=%d, want %d (undelivered %d)", got, want, r.Undelivered)
		}
		if got, want := r.Complete.N, r.Checkouts; got != want {
			t.Errorf("complete samples=%d, want %d", got, want)
		}
		checkDistribution(t, "deliveries", r.Deliveries)
		if r.AgentRSSMean <= 0 || r.AgentRSSMax < r.AgentRSSMean {
			t.Errorf("agent RSS mean %d, max %d", r.AgentRSSMean, r.AgentRSSMax)
		}
		if r.Hub.RSS <= 0 || r.Phase.HubCPU <= 0 {
			t.Errorf("hub RSS %d, CPU %s", r.Hub.RSS, r.Phase.HubCPU)
		}
		if r.Phase.AgentsSwitches <= 0 {
			t.Errorf("agents' context switches %d, want some: they wrote stock", r.Phase.AgentsSwitches)
		}
	})

	t.Run("Fanout", func(t *testing.T) {
		r := rep.Fanout
		if r == nil {
			t.Fatal("no fan-out result")
		}
		if r.Missed != 0 || r.Dropped != 0 {
			t.Errorf("missed %d, dropped %d: every session must receive every change", r.Missed, r.Dropped)
		}
		if got, want := r.Latency.N, cfg.Sessions*cfg.Rounds; got != want {
			t.Errorf("samples=%d, want %d", got, want)
		}
		checkDistribution(t, "fan-out", r.Latency)
		if r.Hub.RSS <= 0 || r.Hub.HWM < r.Hub.RSS {
			t.Errorf("hub RSS %d, peak %d", r.Hub.RSS, r.Hub.HWM)
		}
	})

	t.Run("FlashSale", func(t *testing.T) {
		if got, want := len(rep.FlashSales), 2; got != want {
			t.Fatalf("sales=%d, want %d (burst and spread)", got, want)
		}
		for _, r := range rep.FlashSales {
			if r.Accepted < r.Units || r.Accepted > r.Attempts {
				t.Errorf("window %s: accepted %d of %d attempts with %d units", r.Window, r.Accepted, r.Attempts, r.Units)
			}
			if got, want := r.Oversold, r.Accepted-r.Units; got != want || got < 0 {
				t.Errorf("window %s: oversold=%d, want %d ≥ 0", r.Window, got, want)
			}
			if got, want := r.Committed, int64(r.Accepted); got != want {
				t.Errorf("window %s: hub committed %d, want %d", r.Window, got, want)
			}
			// Oversold, the stores are brought to 0, never below.
			if got, want := r.Target, int64(max(0, r.Units-r.Accepted)); got != want {
				t.Errorf("window %s: store target %d, want %d", r.Window, got, want)
			}
			if r.Converge <= 0 {
				t.Errorf("window %s: converge time %s", r.Window, r.Converge)
			}
		}
	})

	t.Run("Printed", func(t *testing.T) {
		text := out.String()
		// Two propagation targets, three fan-out targets, each judged.
		if got, want := strings.Count(text, "PASS")+strings.Count(text, "MISS"), 5; got != want {
			t.Errorf("%d verdicts printed, want %d", got, want)
		}
		for _, want := range []string{"== 1. Propagation", "== 2. Fan-out", "== 3. Flash sale", "oversold"} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
}

// TestRun_OneAgent runs the propagation with every store served by one
// agent process, at a tiny scale.
func TestRun_OneAgent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scenarios = []string{ScenarioPropagation}
	cfg.Fleets = []Fleet{{Stores: 3, OneAgent: true, Rate: 50}}
	cfg.Duration = 300 * time.Millisecond
	cfg.SKUs = 15
	cfg.IdleWindow = 500 * time.Millisecond
	cfg.Fsync = false
	cfg.BinDir = systest.Binaries(t)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, cfg, &out, t.Output())
	t.Logf("figures:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Propagation), 1; got != want {
		t.Fatalf("runs=%d, want %d", got, want)
	}
	r := rep.Propagation[0]
	if got, want := r.Deliveries.N, r.Checkouts*(r.Stores-1); got != want || r.Checkouts != 15 {
		t.Errorf("delivery samples=%d, want %d (checkouts %d, undelivered %d)", got, want, r.Checkouts, r.Undelivered)
	}
	checkDistribution(t, "deliveries", r.Deliveries)
	if !strings.Contains(out.String(), "for 3 stores in one process") {
		t.Errorf("output does not give the one agent's RSS per store:\n%s", out.String())
	}
}

func checkDistribution(t *testing.T, what string, d Distribution) {
	t.Helper()
	if d.N == 0 || d.P50 <= 0 || d.P90 < d.P50 || d.P99 < d.P90 || d.Max < d.P99 {
		t.Errorf("%s: insane distribution %+v", what, d)
	}
}

func TestConfig_ParseFlags(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c := DefaultConfig()
		if err := c.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Scenarios, allScenarios) || joinFleets(c.Fleets) != "10@20,100x1@2,100x1@20" {
			t.Errorf("scenarios %v, fleets %v", c.Scenarios, c.Fleets)
		}
	})
	t.Run("Lists", func(t *testing.T) {
		c := DefaultConfig()
		if err := c.ParseFlags([]string{"-scenarios", "fanout, flashsale", "-fleets", "3@2.5, 7x1@20"}); err != nil {
			t.Fatal(err)
		}
		want := []Fleet{{Stores: 3, Rate: 2.5}, {Stores: 7, OneAgent: true, Rate: 20}}
		if !slices.Equal(c.Scenarios, []string{"fanout", "flashsale"}) || !slices.Equal(c.Fleets, want) {
			t.Errorf("scenarios %v, fleets %v", c.Scenarios, c.Fleets)
		}
	})
	for _, args := range [][]string{
		{"-scenarios", "nope"},
		{"-fleets", "1@20"},
		{"-fleets", "x@20"},
		{"-fleets", "10"},
		{"-fleets", "10x2@20"},
		{"-fleets", "10@0"},
		{"-fleets", ""},
		{"-duration", "10ms"},
		{"-poll-interval", "100ms"},
		{"extra"},
	} {
		t.Run("Invalid"+strings.Join(args, ""), func(t *testing.T) {
			c := DefaultConfig()
			if err := c.ParseFlags(args); err == nil {
				t.Errorf("ParseFlags(%q) accepted", args)
			}
		})
	}
}

// TestSummarize checks the nearest-rank percentiles on known samples.
func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	d := summarize(samples)
	want := Distribution{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if d != want {
		t.Errorf("summarize=%+v, want %+v", d, want)
	}
	if got := summarize(nil); got != (Distribution{}) {
		t.Errorf("summarize(nil)=%+v, want zero", got)
	}
}
