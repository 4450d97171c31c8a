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
// GOGC 100 (Go's default) and a 44 MiB soft limit: the agent of a store of
// 100,000 SKUs holds about 33 MB for its SKUs (`go test -run '^$' -bench
// Heap100k ./agent/stock ./agent/catalog`), and a larger GOGC let its heap
// grow to several times that (255 MB RSS after the first sync of such a
// store at GOGC 400 and 256 MiB). `go run ./shared/cmd/bigcatalog` shows
// the agents' RSS after a first sync; `go run ./shared/cmd/linkbench
// -scenarios propagation` their CPU per checkout. The process's RSS runs
// about 15 MB above the limit (the binary's pages, the runtime's own).
//
// An agent serving several stores (--config) keeps every P and no soft
// limit: a limit sized for one store keeps the GC running for a hundred,
// and one P leaves every store waiting behind the others (`linkbench
// -one-agent -stores 100` shows both).
func tuneRuntime(multiStore bool) {
	if os.Getenv("GOMAXPROCS") == "" && !multiStore {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
	if os.Getenv("GOMEMLIMIT") == "" && !multiStore {
		debug.SetMemoryLimit(44 << 20)
	}
}
