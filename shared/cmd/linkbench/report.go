package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets the figures are judged against (PASS or MISS).
// (Propagation targets depend on the fleet: Fleet.targets.)
const (
	targetFanoutP99 = 250 * time.Millisecond
	targetHubRSS    = 300 << 20 // bytes
)

// Distribution summarises latency samples (nearest-rank percentiles).
type Distribution struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func summarize(samples []time.Duration) Distribution {
	if len(samples) == 0 {
		return Distribution{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Distribution{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *bench) printHeader(ctx context.Context) {
	rev := "unknown"
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	fmt.Fprintf(b.out, "stockwire linkbench  %s  commit %s\n", time.Now().UTC().Format(time.RFC3339), rev)
	fmt.Fprintf(b.out, "machine: %d CPUs, %s %s/%s; PostgreSQL %s (fsync %v)\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, b.postgresVersion(ctx), b.cfg.Fsync)
	fmt.Fprintf(b.out, "load average at start: %s (other work on the machine skews every figure)\n", loadAverage())
	fmt.Fprintf(b.out, "hub and agents: separate processes (no -race); stores: woosim in this process, webhook delay %s; agent order poll %s\n",
		b.cfg.WebhookDelay, b.cfg.PollInterval)
}

func (b *bench) printPropagationHeader() {
	fmt.Fprintf(b.out, "\n== 1. Propagation: checkout in one store → stock write request arriving at every other store ==\n")
	fmt.Fprintf(b.out, "each fleet: %s of checkouts at its rate, round-robin over the stores and %d SKUs; one sample per (checkout, other store)\n",
		b.cfg.Duration, b.cfg.SKUs)
}

func (b *bench) printPropagation(r PropagationResult) {
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	agents := "an agent process each"
	if r.OneAgent {
		agents = "one agent process"
	}
	fmt.Fprintf(w, "\n%d stores, %s, %g checkouts/s\tsamples\tp50\tp90\tp99\tmax\n", r.Stores, agents, r.Rate)
	d := r.Deliveries
	fmt.Fprintf(w, "  each store\t%d\t%s\t%s\t%s\t%s\n", d.N, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
	c := r.Complete
	fmt.Fprintf(w, "  all stores\t%d\t%s\t%s\t%s\t%s\n", c.N, ms(c.P50), ms(c.P90), ms(c.P99), ms(c.Max))
	w.Flush()
	fmt.Fprintf(b.out, "  checkouts %d in %s (%.1f/s; checkout call p99 %s, max %s), writes never arrived %d\n",
		r.Checkouts, r.Paced.Round(time.Millisecond), float64(r.Checkouts)/r.Paced.Seconds(), ms(r.Calls.P99), ms(r.Calls.Max), r.Undelivered)
	if r.OneAgent {
		fmt.Fprintf(b.out, "  agent RSS: %s for %d stores in one process, %s per store; hub RSS %s (peak %s)\n",
			mb(r.AgentRSSMax), r.Stores, mb(r.AgentRSSMax/int64(r.Stores)), mb(r.Hub.RSS), mb(r.Hub.HWM))
	} else {
		fmt.Fprintf(b.out, "  agent RSS: mean %s, max %s (%d agents); hub RSS %s (peak %s)\n",
			mb(r.AgentRSSMean), mb(r.AgentRSSMax), r.Stores, mb(r.Hub.RSS), mb(r.Hub.HWM))
	}
	p50, p99 := r.targets()
	b.printTargets([]targetLine{
		{fmt.Sprintf("p50, fleet %s", r.Fleet), ms(d.P50), "≤ " + ms(p50), d.N > 0 && d.P50 <= p50},
		{fmt.Sprintf("p99, fleet %s", r.Fleet), ms(d.P99), "≤ " + ms(p99), d.N > 0 && d.P99 <= p99},
	})
	fmt.Fprintf(b.out, "  idle fleet, before the checkouts:\n")
	b.printPhase(r.Idle, 0, "")
	fmt.Fprintf(b.out, "  checkouts and their propagation:\n")
	b.printPhase(r.Phase, r.Checkouts, "checkout")
	// Each checkout is one change at every store: the order reported by
	// the store it was made in, the stock written at each other one.
	if changes := r.Checkouts * r.Stores; changes > 0 && r.Phase.AgentsCPU > 0 {
		fmt.Fprintf(b.out, "  agent per change and store: CPU %d µs, context switches %.1f\n",
			(r.Phase.AgentsCPU / time.Duration(changes)).Microseconds(), float64(r.Phase.AgentsSwitches)/float64(changes))
	}
}

func (b *bench) printFanout(r FanoutResult) {
	fmt.Fprintf(b.out, "\n== 2. Fan-out: one ERP count change (PUT on_hand) → stock.changes at each of %d agent sessions ==\n", r.Sessions)
	fmt.Fprintf(b.out, "%d rounds; one sample per (round, session); sessions opened by this process (hello, snapshot, then read)\n", r.Rounds)
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\n\tsamples\tp50\tp90\tp99\tmax\n")
	fmt.Fprintf(w, "  change at session\t%d\t%s\t%s\t%s\t%s\n", r.Latency.N, ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max))
	fmt.Fprintf(w, "  PUT round trip\t%d\t%s\t%s\t%s\t%s\n", r.Put.N, ms(r.Put.P50), ms(r.Put.P90), ms(r.Put.P99), ms(r.Put.Max))
	w.Flush()
	fmt.Fprintf(b.out, "  missed %d, sessions dropped by the hub %d; all sessions open with snapshots in %s\n",
		r.Missed, r.Dropped, r.Connect.Round(time.Millisecond))
	fmt.Fprintf(b.out, "  hub RSS: %s with the stores and no session, %s with %d sessions (peak %s)\n",
		mb(r.HubIdle.RSS), mb(r.Hub.RSS), r.Sessions, mb(r.Hub.HWM))
	b.printTargets([]targetLine{
		{fmt.Sprintf("p99, %d sessions", r.Sessions), ms(r.Latency.P99), "≤ " + ms(targetFanoutP99), r.Latency.N > 0 && r.Missed == 0 && r.Latency.P99 <= targetFanoutP99},
		{fmt.Sprintf("hub RSS, %d sessions", r.Sessions), mb(r.Hub.RSS), "≤ " + mb(targetHubRSS), r.Hub.RSS <= targetHubRSS},
		{fmt.Sprintf("hub peak RSS (VmHWM), %d sessions", r.Sessions), mb(r.Hub.HWM), "≤ " + mb(targetHubRSS), r.Hub.HWM <= targetHubRSS},
	})
	b.printPhase(r.Phase, r.Rounds*r.Sessions, "session change")
}

func (b *bench) printFlashSales(rs []FlashSaleResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(b.out, "\n== 3. Flash sale under mirror: %d units, %d stores with agents, %d concurrent checkouts of 1 unit ==\n",
		rs[0].Units, rs[0].Stores, rs[0].Attempts)
	fmt.Fprintf(b.out, "no target: mirror oversells inside the propagation window, and the count is reported\n")
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\narrivals\taccepted\toversold\tconverged after\thub committed\tstore target\n")
	for _, r := range rs {
		arrivals := "all at once"
		if r.Window > 0 {
			arrivals = "over " + r.Window.String()
		}
		conv := "not converged"
		if r.Committed == int64(r.Accepted) {
			conv = ms(r.Converge)
		}
		fmt.Fprintf(w, "  %s\t%d\t%d\t%s\t%d\t%d\n", arrivals, r.Accepted, r.Oversold, conv, r.Committed, r.Target)
	}
	w.Flush()
	for _, r := range rs {
		b.printPhase(r.Phase, r.Accepted, "accepted order")
	}
}

type targetLine struct {
	what, got, limit string
	ok               bool
}

func (b *bench) printTargets(lines []targetLine) {
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(w, "  target\t%s\t%s\t%s\t%s\n", l.what, l.got, l.limit, verdict(l.ok))
	}
	w.Flush()
}

// printPhase tells what the measured phase cost: CPU by process and the
// hub's database time by operation, also per unit of work when units > 0.
func (b *bench) printPhase(ph Phase, units int, unit string) {
	if ph.Elapsed == 0 {
		return
	}
	cores := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/ph.Elapsed.Seconds()) }
	fmt.Fprintf(b.out, "  CPU over %s, in cores: hub %s, PostgreSQL %s", ph.Elapsed.Round(time.Millisecond), cores(ph.HubCPU), cores(ph.PostgresCPU))
	if ph.AgentsCPU > 0 {
		fmt.Fprintf(b.out, ", agents %s", cores(ph.AgentsCPU))
	}
	fmt.Fprintf(b.out, ", linkbench %s; whole machine %.0f%% busy\n", cores(ph.BenchCPU), 100*ph.MachineBusy)
	if units > 0 {
		per := func(d time.Duration) string { return ms(d / time.Duration(units)) }
		fmt.Fprintf(b.out, "  CPU per %s: hub %s, PostgreSQL %s", unit, per(ph.HubCPU), per(ph.PostgresCPU))
		if ph.AgentsCPU > 0 {
			fmt.Fprintf(b.out, ", agents %s", per(ph.AgentsCPU))
		}
		fmt.Fprintln(b.out)
	}
	if len(ph.DB) > 0 {
		var parts []string
		for _, op := range ph.DB[:min(len(ph.DB), 5)] {
			parts = append(parts, fmt.Sprintf("%s %d× %s (mean %s)", op.Op, op.Calls,
				op.Total.Round(time.Millisecond), ms(op.Total/time.Duration(op.Calls))))
		}
		fmt.Fprintf(b.out, "  hub database time: %s\n", strings.Join(parts, "; "))
	}
	if len(ph.Profile) > 0 {
		fmt.Fprintf(b.out, "  CPU profile (perf, whole machine):\n")
		for _, l := range ph.Profile {
			fmt.Fprintf(b.out, "    %s\n", l)
		}
	}
}
