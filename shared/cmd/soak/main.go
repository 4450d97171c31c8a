// Command soak runs stockwire's chaos soak (issue 14) and prints its table:
// by default ten minutes of 190 checkouts/s tried over 3 mirror and 2 allocate
// stores on two hub replicas, while the stores drop 30% of webhooks and
// fail 10% of requests with 5xx and 2% with 429, agents are SIGKILLed
// about every minute each, a replica every three minutes, PostgreSQL
// crashes once, stock is edited by hand every ten seconds and orders are
// completed, cancelled and refunded. Then it checks that no order was lost
// or counted twice, that every store shows the hub's figures within 5 s,
// that the allocate stores oversold nothing, that every outbox is empty,
// and that the long-lived processes did not grow. It exits 1 when a check
// fails.
//
//	go run ./shared/cmd/soak
//	go run ./shared/cmd/soak -duration 2m -keep
//
// Progress goes to stderr, the table to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stockwire/stockwire/shared/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := soak.DefaultConfig()
	if err := parse(&cfg, os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	if _, err := soak.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func parse(c *soak.Config, args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long the stores sell")
	fs.Float64Var(&c.OrdersPerSecond, "rate", c.OrdersPerSecond, "checkouts per second over all stores")
	fs.IntVar(&c.Mirror, "mirror", c.Mirror, "mirror stores")
	fs.IntVar(&c.Allocate, "allocate", c.Allocate, "allocate stores")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "hub replicas on the one database")
	fs.IntVar(&c.SKUs, "skus", c.SKUs, "SKUs every store sells")
	fs.Float64Var(&c.RateLimit, "agent-rate-limit", c.RateLimit, "the agents' --rate-limit: WooCommerce requests per second per store")
	fs.Float64Var(&c.Faults.DropWebhookRate, "drop-webhooks", c.Faults.DropWebhookRate, "share of webhooks the stores drop")
	fs.Float64Var(&c.Faults.ErrorRate, "error-rate", c.Faults.ErrorRate, "share of REST requests answered 500")
	fs.Float64Var(&c.Faults.RateLimitRate, "rate-limit-rate", c.Faults.RateLimitRate, "share of REST requests answered 429 with Retry-After")
	fs.DurationVar(&c.AgentKillEvery, "agent-kill-every", c.AgentKillEvery, "how often each agent but store-0's is SIGKILLed (0: never)")
	fs.DurationVar(&c.ReplicaKillEvery, "replica-kill-every", c.ReplicaKillEvery, "how often each replica but replica-0 is SIGKILLed (0: never)")
	fs.DurationVar(&c.PostgresCrashAt, "postgres-crash-at", c.PostgresCrashAt, "when PostgreSQL crashes, into the traffic (0: never)")
	fs.DurationVar(&c.EditEvery, "edit-every", c.EditEvery, "how often stock is edited by hand in a store (0: never)")
	fs.DurationVar(&c.StatusEvery, "status-every", c.StatusEvery, "how often an order is completed, cancelled or refunded (0: never)")
	fs.DurationVar(&c.ConvergeWithin, "converge-within", c.ConvergeWithin, "the bar: stores and hub settled this soon after the traffic stops")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory and its logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c.Validate()
}
