// Command replicabench measures what hub replicas cost in propagation
// latency: a checkout in store A, whose agent is connected to
// one hub replica, until the stock write request arrives at store B, whose
// agent is connected to another replica (woosim's OnStockWrite), against
// the same with both agents on one hub. It prints p50, p90, p99 and the
// largest delay of each setup.
//
// It runs real parts only: its own PostgreSQL cluster (shared/pgcluster, in a
// temporary directory removed on exit), the hub and agent binaries built
// from this module (without -race) and run as processes — two `hub serve`
// on one database for the replica setup — and WooCommerce stores simulated
// in-process (shared/woosim).
//
//	go run ./shared/cmd/replicabench
//	go run ./shared/cmd/replicabench -checkouts 1000 -rate 50
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
		fmt.Fprintln(os.Stderr, "replicabench:", err)
		os.Exit(2)
	}
	if err := Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "replicabench:", err)
		os.Exit(1)
	}
}

// Config is what to measure.
type Config struct {
	// Checkouts per setup. Defaults to 300.
	Checkouts int
	// Rate is checkouts per second. Defaults to 20.
	Rate float64
	// SKUs in each store; a SKU is bought again only after every other,
	// so each write is matched to its checkout. Defaults to 50.
	SKUs int
	// PollInterval is the agents' --poll-interval. Defaults to 1s.
	PollInterval time.Duration
	// Fsync runs PostgreSQL with fsync on. Defaults to true.
	Fsync bool
	// Keep leaves the work directory (logs) in place.
	Keep bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Checkouts: 300, Rate: 20, SKUs: 50, PollInterval: time.Second, Fsync: true}
}

// ParseFlags fills c from args.
func (c *Config) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("replicabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Checkouts, "checkouts", c.Checkouts, "checkouts per setup")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "checkouts per second")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "SKUs per store (bought in turn)")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "the agents' order poll interval")
	fs.BoolVar(&c.Fsync, "fsync", c.Fsync, "run PostgreSQL with fsync on")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and its logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.Checkouts < 1:
		return errors.New("-checkouts must be at least 1")
	case c.Rate <= 0:
		return errors.New("-rate must be positive")
	case c.SKUs < 2:
		return errors.New("-skus must be at least 2")
	case c.PollInterval < 500*time.Millisecond:
		return errors.New("-poll-interval must be at least 500ms")
	}
	return nil
}

// Result is one setup's propagation figures.
type Result struct {
	Setup       string
	Delays      []time.Duration // checkout in A → write request at B
	Undelivered int
}

// Run builds the binaries, starts PostgreSQL, measures both setups and
// prints the figures to out.
func Run(ctx context.Context, cfg Config, out, progress io.Writer) error {
	b, err := newBench(ctx, cfg, progress)
	if err != nil {
		return err
	}
	defer b.close()
	var results []Result
	for _, replicas := range []int{1, 2} {
		r, err := b.propagation(ctx, replicas)
		if err != nil {
			b.keepLogs = true
			return err
		}
		results = append(results, r)
	}
	printResults(ctx, out, cfg, results)
	return nil
}

func printResults(ctx context.Context, out io.Writer, cfg Config, results []Result) {
	rev := "unknown"
	if b, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(out, "stockwire replicabench  %s  commit %s  %d CPUs, %s/%s, fsync %v\n",
		time.Now().UTC().Format(time.RFC3339), rev, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cfg.Fsync)
	fmt.Fprintf(out, "propagation: checkout in store A → stock write request at store B; %d checkouts at %g/s, %d SKUs;\n", cfg.Checkouts, cfg.Rate, cfg.SKUs)
	fmt.Fprintf(out, "store webhooks delivered at once (no WP-Cron delay), agents poll every %s\n\n", cfg.PollInterval)
	fmt.Fprintf(out, "%-44s %7s %9s %9s %9s %9s %12s\n", "setup", "samples", "p50", "p90", "p99", "max", "undelivered")
	for _, r := range results {
		s := slices.Clone(r.Delays)
		slices.Sort(s)
		fmt.Fprintf(out, "%-44s %7d %9s %9s %9s %9s %12d\n", r.Setup, len(s),
			ms(rank(s, 0.50)), ms(rank(s, 0.90)), ms(rank(s, 0.99)), ms(rank(s, 1)), r.Undelivered)
	}
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
