// Command agent runs beside a WooCommerce store: it receives the store's
// webhooks into a durable outbox, polls orders so none is missed, reports
// them to the hub over the link, and writes the hub's stock changes into the
// store. With --config it serves several stores, one logical agent each.
// See `agent --help`. `agent dead-letters list|replay` lists the
// order reports the hub refused, or moves them back into the outbox.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "dead-letters" {
		if err := deadLettersCommand(os.Args[2:], os.Stdout); errors.Is(err, flag.ErrHelp) {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain()
	if err := m.Config.ParseFlags(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	tuneRuntime(m.Config.ConfigFile != "")
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

// tuneRuntime fits the Go runtime to the agent, a small I/O-bound process,
// unless the environment sets GOMAXPROCS, GOGC or GOMEMLIMIT itself.
//
// One P: the agent rarely has two things to compute at once, and with a
// second P every network event wakes a second thread to look for work.
// GOGC 400: the live heap is small, so the default target makes the GC run
// after every few stock changes; a larger target makes it run far less
// often for a little more RSS, and the 256 MiB soft limit keeps a large
// catalog from growing the heap unchecked. `go run ./shared/cmd/linkbench
// -scenarios propagation` shows the effect on the agents' CPU per checkout.
//
// An agent serving several stores (--config) keeps every P and no soft
// limit: a hundred stores come close to 256 MiB, where the limit keeps
// the GC running, and one P leaves every store waiting behind the others
// (`linkbench -one-agent -stores 100` shows both).
func tuneRuntime(multiStore bool) {
	if os.Getenv("GOMAXPROCS") == "" && !multiStore {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" && !multiStore {
		debug.SetMemoryLimit(256 << 20)
	}
}
