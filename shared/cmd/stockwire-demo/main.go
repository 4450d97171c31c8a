// Command stockwire-demo runs the whole system on one machine with no set-up:
// the hub (with its own private PostgreSQL), simulated WooCommerce stores,
// one agent per store as real processes, and live traffic — checkouts in
// every store, cancellations, ERP receipts and now and then a manual stock
// edit in a store's admin. It prints where to look and a one-line summary per
// store, read live from the hub, the stores and the agents' metrics
// listeners; Ctrl-C stops everything and leaves nothing running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := defaultConfig()
	if err := cfg.parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "stockwire-demo:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "stockwire-demo:", err)
		os.Exit(1)
	}
}

type config struct {
	BinDir    string
	DataDir   string
	HubListen string
	Stores    int
	Allocate  int
	SKUs      int
	Rate      float64
	Duration  time.Duration
	// TrafficFor stops the traffic after this long while the demo goes on
	// reporting, so the stores can be watched settling; 0 keeps it going.
	TrafficFor time.Duration
}

func defaultConfig() config {
	bin := "."
	if exe, err := os.Executable(); err == nil {
		bin = filepath.Dir(exe)
	}
	return config{BinDir: bin, DataDir: "./demo-data", HubListen: "127.0.0.1:8080",
		Stores: 3, Allocate: 1, SKUs: 12, Rate: 4}
}

func (c *config) parse(args []string) error {
	fs := flag.NewFlagSet("stockwire-demo", flag.ContinueOnError)
	fs.StringVar(&c.BinDir, "bin", c.BinDir, "directory holding the hub and agent binaries")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the demo's data and logs (wiped at start)")
	fs.StringVar(&c.HubListen, "hub-listen", c.HubListen, "address of the hub's API")
	fs.IntVar(&c.Stores, "stores", c.Stores, "number of simulated stores under the mirror policy")
	fs.IntVar(&c.Allocate, "allocate-stores", c.Allocate, "number of simulated stores under the allocate policy (quotas granted by the hub)")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "simple products per store (plus variations)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "checkouts per second per store")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after this long (0: run until Ctrl-C)")
	fs.DurationVar(&c.TrafficFor, "traffic-for", c.TrafficFor, "stop the traffic after this long and keep reporting, to watch the stores settle (0: traffic until the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Stores < 0 || c.Allocate < 0 || c.Stores+c.Allocate < 1 || c.SKUs < 1 || c.Rate <= 0 {
		return errors.New("--stores and --allocate-stores must not be negative nor both 0; --skus and --rate must be positive")
	}
	if c.Duration < 0 || c.TrafficFor < 0 {
		return errors.New("--duration and --traffic-for must not be negative")
	}
	return nil
}
