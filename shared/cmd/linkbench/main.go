// Command linkbench measures the hub ↔ agent link end to end and
// prints each figure next to its target with PASS or MISS:
//
//   - propagation: a checkout in one store until the stock write request
//     arrives at every other store (woosim's OnStockWrite), in fleets of
//     stores served by real agent processes: by default 10 stores with an
//     agent each at 20 checkouts/s, and 100 stores served by one agent
//     process at 2 and at 20 checkouts/s; plus the agents' memory and CPU;
//   - fanout: one ERP count change (PUT on_hand) until the stock.changes
//     message reaches each of 1,000 protocol-speaking WebSocket sessions
//     opened by the command itself; plus the hub's memory with them;
//   - flashsale: 100 units of one SKU, 5 stores with agents, 1,000
//     concurrent checkouts under the mirror policy: how many are accepted,
//     how many oversold, and how long until every store shows the hub's
//     figure again.
//
// It runs real parts only: its own PostgreSQL cluster (shared/pgcluster, in a
// temporary directory removed on exit and on Ctrl-C), the hub and agent
// binaries built from this module (without -race) and run as processes, and
// WooCommerce stores simulated in-process (shared/woosim).
//
//	go run ./shared/cmd/linkbench                    # everything, a few minutes
//	go run ./shared/cmd/linkbench -scenarios fanout -sessions 2000
//	go run ./shared/cmd/linkbench -scenarios propagation -fleets 100x1@2
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stockwire/stockwire/shared/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := DefaultConfig()
	if err := cfg.ParseFlags(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "linkbench:", err)
		os.Exit(2)
	}
	if _, err := Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "linkbench:", err)
		os.Exit(1)
	}
}

// Scenario names, in the order they run.
const (
	ScenarioPropagation = "propagation"
	ScenarioFanout      = "fanout"
	ScenarioFlashSale   = "flashsale"
)

var allScenarios = []string{ScenarioPropagation, ScenarioFanout, ScenarioFlashSale}

// Config says what to run and at which scale.
type Config struct {
	// Scenarios to run, among propagation, fanout and flashsale. Defaults
	// to all three.
	Scenarios []string

	// Fleets are the propagation runs, in order. Defaults to 10 stores
	// with an agent each at 20/s, then 100 stores in one agent process at
	// 2/s and at 20/s.
	Fleets []Fleet
	// Duration is how long each fleet's checkouts last, at its rate.
	// Defaults to 30s.
	Duration time.Duration
	// SKUs is the catalog size of every store. Defaults to 200, so that a
	// SKU is bought again only after SKUs/Rate seconds and each write
	// request can be matched with the checkout that caused it.
	SKUs int

	// IdleWindow is how long each synced fleet is watched doing nothing
	// before its checkouts, for its idle cost. Defaults to 5s.
	IdleWindow time.Duration

	// Sessions is the number of WebSocket sessions of the fan-out. Defaults
	// to 1,000.
	Sessions int
	// Rounds is the number of count changes fanned out. Defaults to 5.
	Rounds int

	// FlashUnits is the stock of the flash-sale SKU. Defaults to 100.
	FlashUnits int
	// FlashStores is the number of stores (with agents) in the flash sale.
	// Defaults to 5.
	FlashStores int
	// FlashAttempts is the number of concurrent checkouts, spread evenly
	// over the stores. Defaults to 1,000.
	FlashAttempts int
	// FlashWindow spreads the attempts of a second flash sale evenly over
	// this time (the first one releases them all at once). Zero skips the
	// second sale. Defaults to 1s.
	FlashWindow time.Duration

	// WebhookDelay is woosim's delay before a webhook delivery (WordPress'
	// Action Scheduler pace). Defaults to 0: the benchmark measures
	// stockwire's own path.
	WebhookDelay time.Duration
	// PollInterval is the agents' order polling period. Defaults to 5s.
	PollInterval time.Duration
	// Fsync runs PostgreSQL with fsync on, as `hub serve` does with its
	// private cluster. Defaults to true.
	Fsync bool

	// ProfileDir, when set, records a CPU profile of the hub process
	// (Linux perf) during each measured phase into this directory and
	// prints its most expensive functions.
	ProfileDir string
	// ModuleDir is the stockwire module whose hub and agent are built.
	// Empty uses the module of the current directory.
	ModuleDir string
	// BinDir, when set, holds the hub and agent binaries to run instead of
	// building them.
	BinDir string
	// WorkDir holds the cluster, binaries and logs. Empty uses a fresh
	// temporary directory, removed on exit unless Keep is set.
	WorkDir string
	// Keep leaves the temporary WorkDir (logs) in place.
	Keep bool
}

// DefaultConfig returns the full-scale run.
func DefaultConfig() Config {
	return Config{
		Scenarios:     slices.Clone(allScenarios),
		Fleets:        []Fleet{{Stores: 10, Rate: 20}, {Stores: 100, OneAgent: true, Rate: 2}, {Stores: 100, OneAgent: true, Rate: 20}},
		Duration:      30 * time.Second,
		SKUs:          200,
		IdleWindow:    5 * time.Second,
		Sessions:      1000,
		Rounds:        5,
		FlashUnits:    100,
		FlashStores:   5,
		FlashAttempts: 1000,
		FlashWindow:   time.Second,
		PollInterval:  5 * time.Second,
		Fsync:         true,
	}
}

// ParseFlags fills c from args and the LINKBENCH_* environment.
func (c *Config) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("linkbench", flag.ContinueOnError)
	scenarios := strings.Join(c.Scenarios, ",")
	fleets := joinFleets(c.Fleets)
	fs.StringVar(&scenarios, "scenarios", scenarios, "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	fs.StringVar(&fleets, "fleets", fleets, "propagation: comma-separated fleets, each STORES@RATE (an agent process per store, RATE checkouts/s round-robin over the stores and SKUs) or STORESx1@RATE (every store in one agent process)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "propagation: how long each fleet's checkouts last")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "propagation: SKUs in every store")
	fs.DurationVar(&c.IdleWindow, "idle", c.IdleWindow, "propagation: how long the synced fleet is watched idle before the checkouts")
	fs.IntVar(&c.Sessions, "sessions", c.Sessions, "fanout: WebSocket sessions opened by the load tool")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "fanout: count changes to fan out")
	fs.IntVar(&c.FlashUnits, "flash-units", c.FlashUnits, "flashsale: units of the SKU on sale")
	fs.IntVar(&c.FlashStores, "flash-stores", c.FlashStores, "flashsale: stores, one agent each")
	fs.IntVar(&c.FlashAttempts, "flash-attempts", c.FlashAttempts, "flashsale: concurrent checkout attempts")
	fs.DurationVar(&c.FlashWindow, "flash-window", c.FlashWindow, "flashsale: also run a sale with the attempts spread over this time (0: burst only)")
	fs.DurationVar(&c.WebhookDelay, "webhook-delay", c.WebhookDelay, "woosim's webhook delivery delay")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "agents' order polling period")
	fs.BoolVar(&c.Fsync, "fsync", c.Fsync, "run PostgreSQL with fsync on")
	fs.StringVar(&c.ProfileDir, "profile-dir", c.ProfileDir, "record perf CPU profiles of the hub during measured phases into this directory")
	fs.StringVar(&c.ModuleDir, "module-dir", c.ModuleDir, "build the hub and agent from this module directory (default: the current module)")
	fs.StringVar(&c.BinDir, "bin-dir", c.BinDir, "run the hub and agent binaries in this directory instead of building them")
	fs.StringVar(&c.WorkDir, "work-dir", c.WorkDir, "directory for the cluster, binaries and logs (default: a temporary one)")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the temporary work directory (logs)")
	fs.Usage = envflag.Usage(fs, "LINKBENCH_", "linkbench: measure the hub ↔ agent link and print the figures against their targets\n\nUsage: go run ./shared/cmd/linkbench [flags]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := envflag.Apply(fs, "LINKBENCH_", os.LookupEnv); err != nil {
		return err
	}
	c.Scenarios = splitList(scenarios)
	var err error
	if c.Fleets, err = parseFleets(fleets); err != nil {
		return fmt.Errorf("-fleets: %w", err)
	}
	return c.Validate()
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if len(c.Scenarios) == 0 {
		return errors.New("-scenarios: none given")
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("-scenarios: unknown %q, want some of %s", s, strings.Join(allScenarios, ", "))
		}
	}
	switch {
	case slices.Contains(c.Scenarios, ScenarioPropagation) && len(c.Fleets) == 0:
		return errors.New("-fleets: none given")
	case slices.ContainsFunc(c.Fleets, func(f Fleet) bool { return f.Stores < 2 }):
		return errors.New("-fleets: a fleet needs at least 2 stores")
	case slices.ContainsFunc(c.Fleets, func(f Fleet) bool { return f.Rate <= 0 }):
		return errors.New("-fleets: a rate must be positive")
	case slices.ContainsFunc(c.Fleets, func(f Fleet) bool { return f.checkouts(c.Duration) < 1 }):
		return errors.New("-duration: too short for one checkout at a fleet's rate")
	case c.SKUs < 1:
		return errors.New("-skus: at least 1")
	case c.IdleWindow <= 0:
		return errors.New("-idle: must be positive")
	case c.Sessions < 1:
		return errors.New("-sessions: at least 1")
	case c.Rounds < 1:
		return errors.New("-rounds: at least 1")
	case c.FlashUnits < 1:
		return errors.New("-flash-units: at least 1")
	case c.FlashStores < 2:
		return errors.New("-flash-stores: at least 2")
	case c.FlashAttempts < c.FlashStores:
		return errors.New("-flash-attempts: at least one per store")
	case c.FlashWindow < 0:
		return errors.New("-flash-window: must not be negative")
	case c.WebhookDelay < 0:
		return errors.New("-webhook-delay: must not be negative")
	case c.PollInterval < 500*time.Millisecond:
		return errors.New("-poll-interval: at least 500ms (the agent's minimum)")
	}
	return nil
}

func (c *Config) runs(scenario string) bool { return slices.Contains(c.Scenarios, scenario) }

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Fleet is one propagation run: Stores stores, each with its own agent
// process or all served by one (OneAgent), taking Rate checkouts a second.
type Fleet struct {
	Stores   int
	OneAgent bool
	Rate     float64
}

// String is the flag form: "10@20", or "100x1@2" for one agent process.
func (f Fleet) String() string {
	agents := ""
	if f.OneAgent {
		agents = "x1"
	}
	return fmt.Sprintf("%d%s@%s", f.Stores, agents, strconv.FormatFloat(f.Rate, 'g', -1, 64))
}

// checkouts is how many checkouts the fleet takes in d.
func (f Fleet) checkouts(d time.Duration) int { return int(f.Rate * d.Seconds()) }

// targets are the propagation targets the fleet is judged against: 10
// stores or fewer with an agent each keep p50 ≤ 10 ms and p99 ≤ 25 ms
// (what they reached before one agent could serve many stores); larger
// fleets and one agent for every store p50 ≤ 25 ms and p99 ≤ 100 ms.
func (f Fleet) targets() (p50, p99 time.Duration) {
	if !f.OneAgent && f.Stores <= 10 {
		return 10 * time.Millisecond, 25 * time.Millisecond
	}
	return 25 * time.Millisecond, 100 * time.Millisecond
}

func parseFleets(s string) ([]Fleet, error) {
	var out []Fleet
	for _, spec := range splitList(s) {
		stores, rate, ok := strings.Cut(spec, "@")
		if !ok {
			return nil, fmt.Errorf("%q: want STORES@RATE or STORESx1@RATE", spec)
		}
		var f Fleet
		stores, f.OneAgent = strings.CutSuffix(stores, "x1")
		var err error
		if f.Stores, err = strconv.Atoi(stores); err != nil {
			return nil, fmt.Errorf("%q: %q is not a number of stores", spec, stores)
		}
		if f.Rate, err = strconv.ParseFloat(rate, 64); err != nil {
			return nil, fmt.Errorf("%q: %q is not a rate", spec, rate)
		}
		out = append(out, f)
	}
	return out, nil
}

func joinFleets(fs []Fleet) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}
