// Command bigcatalog measures the first sync of large stores (issue 14):
// for 1 and then 3 stores of -skus SKUs each, it imports a count of every
// SKU into the hub (one CSV, all or nothing), starts one agent per store,
// and measures the time until every store shows the hub's figure for
// every SKU, the WooCommerce requests the agents used (catalog scan, reads
// by SKU, batch writes against the 1.05 × SKUs/100 budget, the rest), and
// the agents' and the hub's memory (VmHWM and VmRSS from /proc).
//
// Real parts only: a private PostgreSQL cluster (shared/benchenv) in a
// temporary directory, the hub and agent binaries built from this module
// (without -race) and run as processes with their default runtime
// settings, woosim stores in-process (so that their memory is not the
// agent's). Every store starts at -store-stock units per item and the hub
// counts differ, so every SKU takes a write.
//
//	go run ./shared/cmd/bigcatalog
//	go run ./shared/cmd/bigcatalog -stores 1 -skus 20000 -rate-limit 100
//
// Progress goes to stderr, the figures to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is what to measure.
type Config struct {
	// Stores lists the runs: the number of stores in each. Defaults to 1
	// and 3.
	Stores []int
	// SKUs per store: Variable variable products of three variations
	// each, the rest simple products. Defaults to 100,000, none variable.
	SKUs, Variable int
	// StoreStock is every item's stock in the store before the sync.
	StoreStock int
	// RateLimit is each agent's --rate-limit (its default is 20).
	RateLimit float64
	// Timeout bounds each run's wait for the stores to show the hub's
	// figures.
	Timeout time.Duration
	// Keep keeps the work directory (logs) after the run.
	Keep bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Stores: []int{1, 3}, SKUs: 100_000, StoreStock: 5, RateLimit: 20, Timeout: 20 * time.Minute}
}

func (c *Config) parse(args []string) error {
	fs := flag.NewFlagSet("bigcatalog", flag.ContinueOnError)
	stores := make([]string, len(c.Stores))
	for i, n := range c.Stores {
		stores[i] = strconv.Itoa(n)
	}
	list := fs.String("stores", strings.Join(stores, ","), "runs: the number of stores in each, comma-separated")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "SKUs per store")
	fs.IntVar(&c.Variable, "variable", c.Variable, "of them, variable products of 3 variations each (their variations are SKUs)")
	fs.IntVar(&c.StoreStock, "store-stock", c.StoreStock, "every item's stock in the store before the sync")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "each agent's --rate-limit (requests per second)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "longest wait for a run's stores to show the hub's figures")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Stores = nil
	for s := range strings.SplitSeq(*list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-stores: bad number %q", s)
		}
		c.Stores = append(c.Stores, n)
	}
	switch {
	case c.SKUs < 1 || c.Variable < 0 || 3*c.Variable > c.SKUs:
		return errors.New("-skus must be positive and hold the variations of -variable (3 each)")
	case c.RateLimit <= 0 || c.Timeout <= 0 || c.StoreStock < 0:
		return errors.New("-rate-limit and -timeout must be positive, -store-stock not negative")
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := DefaultConfig()
	if err := cfg.parse(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "bigcatalog:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bigcatalog:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func run(ctx context.Context, cfg Config) error {
	env, err := openEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.Close(cfg.Keep)
	var results []result
	var errs []error
	for i, n := range cfg.Stores {
		r, err := measure(ctx, env, cfg, i, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%d stores: %w", n, err))
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	report(os.Stdout, cfg, results)
	return errors.Join(errs...)
}
