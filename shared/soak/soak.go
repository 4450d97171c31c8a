// Package soak is stockwire's chaos soak: stores selling for minutes while
// their WooCommerce hosts drop webhooks and fail requests, agents and hub
// replicas are SIGKILLed, PostgreSQL crashes and people edit stock by hand;
// then, once the traffic stops, it checks what every merchant relies on:
// no order lost or counted twice, every store showing the hub's figures
// within seconds, nothing oversold by the allocate stores, every outbox
// empty, and no process growing over the run.
//
// Real parts only: a private PostgreSQL cluster (shared/benchenv), the hub
// replicas and the agents as processes built from this module, woosim
// stores in this process. shared/cmd/soak prints the table; this package's
// test runs a one-minute soak in `make test`.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/woosim"
)

// Config shapes a soak.
type Config struct {
	// Duration is how long the stores sell, under faults. The default,
	// 12m30s, is what 2 cores need for 100,000 orders at the default pace
	// (about 140 accepted a second).
	Duration time.Duration
	// Mirror and Allocate are the numbers of stores of each policy.
	Mirror, Allocate int
	// Replicas is the number of hub processes on the one database.
	Replicas int
	// SKUs every store sells (the same in each), counted at InitialStock
	// in the hub; the ERP receives InitialStock more of a SKU whenever
	// fewer than half of it are available.
	SKUs         int
	InitialStock int64
	// OrdersPerSecond is the checkouts tried per second, over all stores.
	OrdersPerSecond float64
	// Faults are every store's WooCommerce faults during the traffic.
	Faults woosim.Faults
	// WebhookDelay is the stores' webhook delivery delay.
	WebhookDelay time.Duration
	// PollInterval is the agents' --poll-interval, RateLimit their
	// --rate-limit (WooCommerce requests per second per store).
	PollInterval time.Duration
	RateLimit    float64
	// AgentKillEvery is how often each agent but store-0's is SIGKILLed
	// (restarted 1–3 s later); ReplicaKillEvery the same for the hub
	// replicas but replica-0. Store-0's agent and replica-0 live through
	// the run: their memory and goroutines are watched for growth. Zero
	// kills nothing.
	AgentKillEvery, ReplicaKillEvery time.Duration
	// PostgresCrashAt, when set, crashes PostgreSQL once at that point of
	// the traffic, down for PostgresDown.
	PostgresCrashAt, PostgresDown time.Duration
	// EditEvery is how often stock is edited by hand in a store's admin;
	// StatusEvery how often an order is completed, cancelled or refunded
	// (zero: never).
	EditEvery, StatusEvery time.Duration
	// SampleEvery is how often the long-lived processes' memory and
	// goroutines are sampled.
	SampleEvery time.Duration
	// ConvergeWithin is the bar: every store shows the hub's figures, and
	// the hub every order, this soon after the traffic stops.
	ConvergeWithin time.Duration
	// Dir and BinDir are benchenv's work directory and binaries (empty:
	// a temporary directory, binaries built). Keep keeps the logs.
	Dir, BinDir string
	Keep        bool
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// DefaultConfig is the ten-minute soak of issue 14.
func DefaultConfig() Config {
	return Config{
		Duration: 12*time.Minute + 30*time.Second, Mirror: 3, Allocate: 2, Replicas: 2, SKUs: 40, InitialStock: 2000,
		OrdersPerSecond: 190,
		Faults:          woosim.Faults{DropWebhookRate: 0.3, ErrorRate: 0.1, ErrorStatus: 500, RateLimitRate: 0.02},
		WebhookDelay:    500 * time.Millisecond, PollInterval: time.Second, RateLimit: 20,
		AgentKillEvery: time.Minute, ReplicaKillEvery: 3 * time.Minute,
		PostgresCrashAt: 4 * time.Minute, PostgresDown: 3 * time.Second,
		EditEvery: 10 * time.Second, StatusEvery: time.Second, SampleEvery: time.Minute,
		ConvergeWithin: 5 * time.Second,
	}
}

// Validate reports a config that cannot run.
func (c Config) Validate() error {
	switch {
	case c.Duration <= 0 || c.OrdersPerSecond <= 0:
		return errors.New("duration and orders per second must be positive")
	case c.Mirror < 1 || c.Allocate < 0 || c.Replicas < 1 || c.SKUs < 3:
		return errors.New("at least 1 mirror store, 1 replica and 3 SKUs")
	case c.InitialStock < 1 || c.PollInterval <= 0 || c.RateLimit <= 0 || c.EditEvery < 0 || c.StatusEvery < 0 || c.SampleEvery <= 0:
		return errors.New("initial stock, poll interval and sample period must be positive, edit and status periods not negative")
	case c.AgentKillEvery < 0 || c.ReplicaKillEvery < 0 || c.PostgresCrashAt < 0 || c.PostgresDown < 0 || c.ConvergeWithin <= 0:
		return errors.New("kill periods and the crash time must not be negative, the convergence bar positive")
	}
	return nil
}

// Run runs the soak, prints its table to out and returns the result; the
// error lists every check that failed (or why the soak could not run).
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	env, err := benchenv.Open(ctx, benchenv.Options{Name: "soak", Dir: cfg.Dir, BinDir: cfg.BinDir, Fsync: true, Logf: cfg.Logf})
	if err != nil {
		return nil, err
	}
	defer env.Close(cfg.Keep)
	cfg.Logf("starting %d hub replicas, %d mirror and %d allocate stores with %d SKUs", cfg.Replicas, cfg.Mirror, cfg.Allocate, cfg.SKUs)
	s, err := startSystem(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()

	res := &Result{Config: cfg, ReceiptUnits: map[string]int64{}}
	s.res = res
	cfg.Logf("selling for %s at %.0f orders/s under faults", cfg.Duration, cfg.OrdersPerSecond)
	s.start = time.Now()
	traffic, stopTraffic := context.WithTimeout(ctx, cfg.Duration)
	defer stopTraffic()
	for _, st := range s.stores {
		st.sim.Store.SetFaults(cfg.Faults)
	}
	// Each part of the traffic and the chaos takes the run's ctx for what
	// must finish (a receipt's confirmation, a killed process's restart)
	// and traffic for when to stop.
	var wg sync.WaitGroup
	for _, f := range []func(ctx, traffic context.Context){
		s.shop, s.receive, s.edit, s.changeStatuses, s.killAgents, s.killReplicas, s.crashPostgres, s.sample,
	} {
		wg.Go(func() { f(ctx, traffic) })
	}
	// The storm ends with the traffic: the stores' faults stop then, and
	// the chaos finishes what it began (a killed process's restart, 1–3 s
	// later). The stores must settle within ConvergeWithin of the end of
	// both: no store can while the soak itself holds its agent down.
	<-traffic.Done()
	res.Selling = time.Since(s.start)
	for _, st := range s.stores {
		st.sim.Store.SetFaults(woosim.Faults{})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg.Logf("traffic stopped after %s, chaos %s later; checking", res.Selling.Round(time.Second), (time.Since(s.start) - res.Selling).Round(100*time.Millisecond))
	s.check(ctx, time.Now())
	if out != nil {
		res.Print(out)
	}
	return res, res.Err()
}

// Result is what a soak did and found.
type Result struct {
	Config  Config
	Selling time.Duration

	mu sync.Mutex
	// ReplicaKills and PostgresCrashes count the chaos beyond the agents'
	// kills (in Stores); SlowRestarts lists the killed processes that did
	// not answer within a minute of their restart.
	ReplicaKills    int
	PostgresCrashes int
	SlowRestarts    []string
	// ReceiptUnits is the units the ERP received per SKU, each receipt
	// confirmed by the hub.
	ReceiptUnits map[string]int64
	Receipts     int
	Samples      []Sample

	// What the checks found.
	Stores          []StoreFigures
	ConvergedIn     time.Duration // after the traffic stopped; <0: never
	OrdersInStores  int
	OrdersInHub     int
	Lost, Doubled   int // store orders missing from the hub's feed, or in it twice
	WrongState      int // hub orders whose status or stock state is not the store's
	Unknown         int // hub orders no store has
	CommittedDiff   int // SKUs whose committed or on hand differ from the stores' orders
	AllocOversold   int64
	OutboxEvents    int
	DeadLetters     int
	UnexpectedExits []string
	Growth          []string
	Failures        []string
}

// Sample is the long-lived processes' figures at one point of the run;
// -1 where a figure could not be read.
type Sample struct {
	At               time.Duration
	Orders           int64
	HubRSS, AgentRSS int64 // bytes
	HubGoroutines    int
	AgentGoroutines  int
}

func (r *Result) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// Err is nil when every check passed.
func (r *Result) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	errs := make([]error, len(r.Failures))
	for i, f := range r.Failures {
		errs[i] = errors.New(f)
	}
	return fmt.Errorf("soak failed: %w", errors.Join(errs...))
}
