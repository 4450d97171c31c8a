// Command agent runs beside one WooCommerce store: it receives the store's
// webhooks into a durable outbox, polls orders so none is missed, reports
// them to the hub over the link, and writes the hub's stock changes into the
// store. See `agent --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain()
	if err := m.Config.ParseFlags(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		m.Close()
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
	case <-m.Failed():
	}
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}
