// Command editbench measures how fast a hand edit in a busy store is
// undone: while every store takes checkouts at its rate, it edits the
// first store's stock by hand (woosim's admin edit, as wp-admin does),
// alternately up and down by -size units, and times each edit until the
// agent's correcting write (an inventory_delta of the opposite sign, at
// least half the edit) reaches the store. It prints p50, p90, p99 and the
// longest time for edits up and for edits down, then stops the shoppers
// and checks that every store shows the hub's figure and that the hub
// counted every checkout once.
//
// Real parts only: a private PostgreSQL cluster (shared/pgcluster) in a
// temporary directory, the hub and agent binaries built from this module
// (without -race) and run as processes, woosim stores in-process.
//
//	go run ./shared/cmd/editbench
//	go run ./shared/cmd/editbench -edits 40 -webhooks=false
//
// Progress goes to stderr, the figures to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woosim"
)

// Config is the benchmark's configuration.
type Config struct {
	// Edits is how many hand edits are made, alternately up and down, and
	// Size how many units each moves.
	Edits int
	Size  int64
	// Rates are the stores' checkouts per second; the first store is the
	// one edited.
	Rates []float64
	// OnHand is the SKU's stock at the hub.
	OnHand int64
	// Webhooks has the agents register webhooks (product and order);
	// without them they see edits and orders by polling alone.
	Webhooks bool
	// WebhookDelay is woosim's delivery delay; PollInterval the agents'
	// order poll.
	WebhookDelay, PollInterval time.Duration
	// EditTimeout bounds the wait for one edit's undo.
	EditTimeout time.Duration
	// Keep keeps the work directory (logs) after the run.
	Keep bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Edits: 20, Size: 25, Rates: []float64{10, 5}, OnHand: 1_000_000, Webhooks: true,
		WebhookDelay: 200 * time.Millisecond, PollInterval: 5 * time.Second, EditTimeout: 60 * time.Second}
}

func (c *Config) parse(args []string) error {
	fs := flag.NewFlagSet("editbench", flag.ContinueOnError)
	rates := make([]string, len(c.Rates))
	for i, r := range c.Rates {
		rates[i] = strconv.FormatFloat(r, 'f', -1, 64)
	}
	rateList := fs.String("rates", strings.Join(rates, ","), "checkouts per second of each store; the first is edited")
	fs.IntVar(&c.Edits, "edits", c.Edits, "hand edits, alternately up and down")
	fs.Int64Var(&c.Size, "size", c.Size, "units each edit moves")
	fs.Int64Var(&c.OnHand, "on-hand", c.OnHand, "the SKU's stock at the hub")
	fs.BoolVar(&c.Webhooks, "webhooks", c.Webhooks, "agents register webhooks (false: polling alone)")
	fs.DurationVar(&c.WebhookDelay, "webhook-delay", c.WebhookDelay, "woosim webhook delivery delay")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "agents' order poll interval")
	fs.DurationVar(&c.EditTimeout, "edit-timeout", c.EditTimeout, "longest wait for one edit's undo")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Rates = nil
	for r := range strings.SplitSeq(*rateList, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v < 0 {
			return fmt.Errorf("-rates: bad rate %q", r)
		}
		c.Rates = append(c.Rates, v)
	}
	switch {
	case len(c.Rates) == 0 || c.Rates[0] <= 0:
		return errors.New("-rates: the first store must take checkouts")
	case c.Edits < 1 || c.Size < 2:
		return errors.New("-edits must be positive and -size at least 2")
	case c.WebhookDelay < 0 || c.PollInterval <= 0 || c.EditTimeout <= 0:
		return errors.New("-poll-interval and -edit-timeout must be positive, -webhook-delay not negative")
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
		fmt.Fprintln(os.Stderr, "editbench:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "editbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg Config) error {
	s, err := start(ctx, cfg)
	if s != nil {
		defer s.close()
	}
	if err != nil {
		return err
	}
	edited := s.stores[0]

	shoppers, stopShoppers := context.WithCancel(ctx)
	defer stopShoppers()
	var wg sync.WaitGroup
	var sold, refused atomic.Int64
	for i, st := range s.stores {
		if cfg.Rates[i] <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rates[i]))
			defer tick.Stop()
			for {
				select {
				case <-shoppers.Done():
					return
				case <-tick.C:
				}
				if _, err := st.sim.Store.Checkout([]woosim.CheckoutLine{{SKU: s.sku, Quantity: 1}}); err != nil {
					refused.Add(1)
					continue
				}
				sold.Add(1)
			}
		}()
	}
	progress("shoppers at %v checkouts/s; %d edits of %d units in %s", cfg.Rates, cfg.Edits, cfg.Size, edited.name)
	if err := launch.Poll(ctx, 30*time.Second, "the first checkouts", func() error {
		if n := sold.Load(); n < 20 {
			return fmt.Errorf("%d checkouts", n)
		}
		return nil
	}); err != nil {
		return err
	}

	var up, down []time.Duration
	missed := 0
	for i := range cfg.Edits {
		sign := int64(1)
		if i%2 == 1 {
			sign = -1
		}
		q, _ := edited.sim.Store.StockBySKU(s.sku)
		at := time.Now()
		if err := edited.sim.Store.AdminEdit(s.sku, q+sign*cfg.Size); err != nil {
			return err
		}
		undone, err := waitUndo(ctx, edited, at, sign, cfg)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			missed++
			progress("edit %d (%+d): not undone within %s", i+1, sign*cfg.Size, cfg.EditTimeout)
			continue
		case sign > 0:
			up = append(up, undone)
		default:
			down = append(down, undone)
		}
		progress("edit %d (%+d): undone in %s", i+1, sign*cfg.Size, undone.Round(time.Millisecond))
		// Let the store settle before the next edit.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	stopShoppers()
	wg.Wait()
	progress("shoppers stopped after %d checkouts (%d refused); waiting for every store to show the hub's figure", sold.Load(), refused.Load())
	var hub struct {
		Committed int64 `json:"committed"`
	}
	hubErr := launch.PollEvery(ctx, 60*time.Second, 100*time.Millisecond, "the hub counted every checkout", func() error {
		if err := s.api(ctx, http.MethodGet, "/api/v1/skus/"+s.sku, nil, &hub); err != nil {
			return err
		}
		if hub.Committed != sold.Load() {
			return fmt.Errorf("hub committed %d units, shoppers bought %d", hub.Committed, sold.Load())
		}
		return nil
	})
	convErr := s.waitConverged(ctx, 60*time.Second)
	reverted, _ := edited.metric(ctx, "stockwire_agent_stock_manual_edits_total", "action", "reverted")
	repairs, _ := edited.metric(ctx, "stockwire_agent_stock_repairs_total")

	fmt.Printf("editbench: %d stores at %v checkouts/s (the first edited), webhooks %v (delay %s), order poll %s\n",
		len(s.stores), cfg.Rates, cfg.Webhooks, cfg.WebhookDelay, cfg.PollInterval)
	fmt.Printf("edit undone (edit → correcting write at the store):\n")
	fmt.Printf("  up   +%-3d n=%-3d %s\n", cfg.Size, len(up), summary(up))
	fmt.Printf("  down -%-3d n=%-3d %s\n", cfg.Size, len(down), summary(down))
	fmt.Printf("  not undone within %s: %d\n", cfg.EditTimeout, missed)
	fmt.Printf("agent of %s: manual edits reverted %.0f, repairs %.0f\n", edited.name, reverted, repairs)
	fmt.Printf("checkouts %d, hub committed %d\n", sold.Load(), hub.Committed)
	if convErr != nil {
		fmt.Printf("converged: NO: %v\n", convErr)
	} else {
		fmt.Println("converged: every store shows the hub's figure")
	}
	return errors.Join(hubErr, convErr)
}

// waitUndo waits for the agent's write undoing an edit made at at in
// direction sign, and returns how long after the edit it reached the
// store.
func waitUndo(ctx context.Context, st *store, at time.Time, sign int64, cfg Config) (time.Duration, error) {
	var took time.Duration
	err := launch.PollEvery(ctx, cfg.EditTimeout, 20*time.Millisecond, "the edit undone", func() error {
		for _, w := range st.writesSince(at) {
			if -sign*w.delta >= cfg.Size/2 {
				took = w.at.Sub(at)
				return nil
			}
		}
		return errors.New("no correcting write yet")
	})
	return took, err
}

// summary formats p50, p90, p99 and the maximum of ds.
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))].Round(10 * time.Millisecond)
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", pct(0.50), pct(0.90), pct(0.99), s[len(s)-1].Round(10*time.Millisecond))
}
