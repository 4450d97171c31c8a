// Command webhookbench measures the hub's outbound webhooks (issue 13): the
// time from an order's commit at the hub to its delivery at a healthy
// endpoint (p50, p99, max), and whether 1,000 orders/s fanned out to three
// endpoints keeps up, beside the same load without webhooks (what the
// hub commits on this machine anyway).
//
// It runs real parts only: its own PostgreSQL cluster (shared/benchenv, in a
// temporary directory removed on exit), the hub binary built from this
// module and run as a process, stores whose agents are simulated on the
// real WebSocket link (hello, then order reports, each acknowledged once
// committed), and ERP endpoints on loopback that verify every signature
// with the Standard Webhooks library and answer 204.
//
// Committed is the payload's timestamp: the order transaction's start,
// on this host's clock, so the figure slightly overstates the latency.
//
//	go run ./shared/cmd/webhookbench
//	go run ./shared/cmd/webhookbench -rate 1000 -duration 10s
//
// Progress goes to stderr, the figures to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := DefaultConfig()
	if err := cfg.ParseFlags(os.Args[1:], os.Stderr); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "webhookbench:", err)
		os.Exit(2)
	}
	if err := Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhookbench:", err)
		os.Exit(1)
	}
}

// Config is what to measure.
type Config struct {
	// LatencyOrders at LatencyRate per second measure the latency to one
	// healthy endpoint. Defaults to 500 at 50/s.
	LatencyOrders int
	LatencyRate   float64
	// Rate orders per second for Duration, to Endpoints endpoints, is the
	// load. Defaults to 1,000/s for 10s to 3.
	Rate      float64
	Duration  time.Duration
	Endpoints int
	// Stores report the orders, each over its own link. Defaults to 4.
	Stores int
	// SKUs the orders buy, one line each, in turn. Defaults to 200.
	SKUs int
	// HubArgs are extra `hub serve` flags (e.g. --webhook-workers 8).
	HubArgs []string
	// Fsync runs PostgreSQL with fsync on. Defaults to true.
	Fsync bool
	// Keep leaves the work directory (logs) in place.
	Keep bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{LatencyOrders: 500, LatencyRate: 50, Rate: 1000, Duration: 10 * time.Second, Endpoints: 3, Stores: 4, SKUs: 200, Fsync: true}
}

// ParseFlags fills c from args.
func (c *Config) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhookbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.LatencyOrders, "latency-orders", c.LatencyOrders, "orders of the latency run (one endpoint)")
	fs.Float64Var(&c.LatencyRate, "latency-rate", c.LatencyRate, "orders per second of the latency run")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "orders per second of the load run")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the load run")
	fs.IntVar(&c.Endpoints, "endpoints", c.Endpoints, "endpoints subscribed in the load run")
	fs.IntVar(&c.Stores, "stores", c.Stores, "stores reporting orders")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "SKUs the orders buy")
	fs.BoolVar(&c.Fsync, "fsync", c.Fsync, "run PostgreSQL with fsync on")
	fs.Func("hub-arg", "an extra `hub serve` flag or value (repeat: -hub-arg --webhook-workers -hub-arg 8)", func(v string) error {
		c.HubArgs = append(c.HubArgs, v)
		return nil
	})
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and its logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.LatencyOrders < 1 || c.LatencyRate <= 0:
		return errors.New("-latency-orders and -latency-rate must be positive")
	case c.Rate <= 0 || c.Duration <= 0:
		return errors.New("-rate and -duration must be positive")
	case c.Endpoints < 1 || c.Stores < 1 || c.SKUs < 1:
		return errors.New("-endpoints, -stores and -skus must be at least 1")
	}
	return nil
}

// Result is one run's figures.
type Result struct {
	Name      string
	Orders    int           // reported and acknowledged
	Endpoints int           // subscribed
	Sending   time.Duration // first report sent → last acknowledged
	Latencies []time.Duration
	Missing   int // deliveries not received by the deadline
	Dupes     int // deliveries received more than once
	// Drain is last acknowledgement → last delivery.
	Drain time.Duration
	// CPU time from the first report to the last delivery: the hub
	// process, PostgreSQL (every backend), and this command (the stores
	// and the endpoints, which verify each signature); and the share of
	// the machine's CPU that was busy meanwhile.
	HubCPU, PostgresCPU, BenchCPU time.Duration
	MachineBusy                   float64
}

// Run builds the binaries, starts PostgreSQL, runs the latency and the
// load runs and prints the figures to out.
func Run(ctx context.Context, cfg Config, out, progress io.Writer) error {
	b, err := newBench(ctx, cfg, progress)
	if err != nil {
		return err
	}
	defer b.close()
	var results []Result
	for _, r := range []struct {
		name      string
		orders    int
		rate      float64
		endpoints int
	}{
		{"healthy endpoint", cfg.LatencyOrders, cfg.LatencyRate, 1},
		{"load, no webhooks", int(cfg.Rate * cfg.Duration.Seconds()), cfg.Rate, 0},
		{"load", int(cfg.Rate * cfg.Duration.Seconds()), cfg.Rate, cfg.Endpoints},
	} {
		res, err := b.run(ctx, r.name, r.orders, r.rate, r.endpoints)
		if err != nil {
			b.keepLogs = true
			return err
		}
		results = append(results, res)
	}
	printResults(ctx, out, cfg, results)
	return nil
}

func printResults(ctx context.Context, out io.Writer, cfg Config, results []Result) {
	rev := "unknown"
	if b, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(out, "stockwire webhookbench  %s  commit %s  %d CPUs, %s/%s, fsync %v\n",
		time.Now().UTC().Format(time.RFC3339), rev, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cfg.Fsync)
	fmt.Fprintf(out, "order committed at the hub → delivered (signature verified, 204) at the endpoint; %d stores, %d SKUs;\n", cfg.Stores, cfg.SKUs)
	fmt.Fprintf(out, "hub, PostgreSQL, stores and endpoints share this machine; hub flags %q\n\n", cfg.HubArgs)
	fmt.Fprintf(out, "%-18s %7s %9s %10s %11s %9s %9s %9s %8s %6s %9s\n",
		"run", "orders", "endpoints", "orders/s", "deliveries", "p50", "p99", "max", "missing", "dupes", "drain")
	for _, r := range results {
		s := slices.Clone(r.Latencies)
		slices.Sort(s)
		rate := float64(r.Orders) / r.Sending.Seconds()
		fmt.Fprintf(out, "%-18s %7d %9d %10.0f %11d %9s %9s %9s %8d %6d %9s\n", r.Name, r.Orders, r.Endpoints, rate, len(s),
			ms(rank(s, 0.50)), ms(rank(s, 0.99)), ms(rank(s, 1)), r.Missing, r.Dupes, ms(r.Drain))
	}
	fmt.Fprintf(out, "\nCPU per order, first report to last delivery:\n%-18s %9s %11s %9s %13s\n", "run", "hub", "PostgreSQL", "bench", "machine busy")
	for _, r := range results {
		per := func(d time.Duration) string {
			return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)/float64(max(r.Orders, 1)))
		}
		fmt.Fprintf(out, "%-18s %9s %11s %9s %12.0f%%\n", r.Name, per(r.HubCPU), per(r.PostgresCPU), per(r.BenchCPU), 100*r.MachineBusy)
	}
	load := results[len(results)-1]
	s := slices.Clone(load.Latencies)
	slices.Sort(s)
	achieved := float64(load.Orders) / load.Sending.Seconds()
	keeps := load.Missing == 0 && rank(s, 0.99) <= time.Second && achieved >= 0.95*cfg.Rate
	fmt.Fprintf(out, "\n%g orders/s to %d endpoints keeps up (all delivered, p99 ≤ 1 s, ≥ 95%% of the rate committed): %v\n",
		cfg.Rate, cfg.Endpoints, yesNo(keeps))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// rank returns the p-quantile of sorted samples (nearest rank).
func rank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
