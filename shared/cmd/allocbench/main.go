// Command allocbench measures the allocate policy end to end and prints
// the figures:
//
//   - flashsale: 100 units of one SKU, 5 allocate stores, 1,000 shoppers
//     spread unevenly (one store has none), each trying until it buys for
//     the length of the sale: units sold, units left unsold while shoppers
//     were still waiting (stranded), oversold units (accepted checkouts
//     beyond the units; must be 0), time to sell out, and how long the
//     store without shoppers held units. Run plain, with one store's agent
//     killed mid-sale and with the hub killed mid-sale.
//   - grant: a store selling one unit at a time with plenty in the pool:
//     from the checkout that takes it below its low-water mark to the grant
//     write (a positive inventory_delta) arriving at the store.
//
// Real parts only: a private PostgreSQL cluster (shared/pgcluster) in a
// temporary directory, the hub and agent binaries built from this module
// (without -race) and run as processes, woosim stores in-process.
//
//	go run ./shared/cmd/allocbench
//	go run ./shared/cmd/allocbench -runs plain -webhook-delay 1s
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
	"strings"
	"syscall"
	"time"
)

// Config is the benchmark's configuration.
type Config struct {
	// Runs lists the flash sale runs: plain, agent-killed, hub-killed.
	Runs []string
	// Units, Stores and Shoppers shape the flash sale.
	Units    int64
	Shoppers []int
	// SaleWindow bounds one flash sale.
	SaleWindow time.Duration
	// WebhookDelay is woosim's delivery delay (WooCommerce's own pace is
	// seconds); PollInterval the agents' order poll.
	WebhookDelay, PollInterval time.Duration
	// GrantSamples is how many low-water crossings the grant run measures.
	GrantSamples int
	// Keep keeps the work directory (logs) after the run.
	Keep bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Runs: []string{"plain", "agent-killed", "hub-killed"}, Units: 100,
		Shoppers: []int{450, 300, 150, 100, 0}, SaleWindow: 60 * time.Second,
		WebhookDelay: 200 * time.Millisecond, PollInterval: time.Second, GrantSamples: 20,
	}
}

func (c *Config) parse(args []string) error {
	fs := flag.NewFlagSet("allocbench", flag.ContinueOnError)
	runs := fs.String("runs", strings.Join(c.Runs, ","), "flash sale runs: plain, agent-killed, hub-killed (empty: none)")
	fs.Int64Var(&c.Units, "units", c.Units, "units of the flash sale SKU")
	fs.DurationVar(&c.SaleWindow, "sale-window", c.SaleWindow, "longest a flash sale lasts")
	fs.DurationVar(&c.WebhookDelay, "webhook-delay", c.WebhookDelay, "woosim webhook delivery delay")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "agents' order poll interval")
	fs.IntVar(&c.GrantSamples, "grant-samples", c.GrantSamples, "low-water crossings measured (0: skip)")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Runs = nil
	for r := range strings.SplitSeq(*runs, ",") {
		switch r = strings.TrimSpace(r); r {
		case "":
		case "plain", "agent-killed", "hub-killed":
			c.Runs = append(c.Runs, r)
		default:
			return fmt.Errorf("-runs: unknown run %q", r)
		}
	}
	switch {
	case c.Units < 1:
		return errors.New("-units must be positive")
	case c.SaleWindow <= 0 || c.WebhookDelay < 0 || c.PollInterval <= 0:
		return errors.New("-sale-window and -poll-interval must be positive, -webhook-delay not negative")
	case c.GrantSamples < 0:
		return errors.New("-grant-samples must not be negative")
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
		fmt.Fprintln(os.Stderr, "allocbench:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "allocbench:", err)
		os.Exit(1)
	}
}
