package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// watchConfig reloads --config on SIGHUP and whenever its content changes
// (looked at every storeConfigPoll), and applies it to the fleet: stores
// added start, stores removed stop, stores whose entry changed restart,
// the others run on untouched. A file that does not load is refused with
// an error in the log, and the stores run on as they were. The agent takes
// SIGHUP itself, rather than main, since only a multi-store agent reloads.
func (m *Main) watchConfig(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	last, _ := os.ReadFile(m.Config.ConfigFile)
	tick := time.NewTicker(storeConfigPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			m.Logger.Info("reloading stores on SIGHUP", "config", m.Config.ConfigFile)
		case <-tick.C:
			b, err := os.ReadFile(m.Config.ConfigFile)
			if err != nil || bytes.Equal(b, last) {
				continue // a file being replaced is read again next time
			}
			m.Logger.Info("reloading stores: file changed", "config", m.Config.ConfigFile)
		}
		b, err := os.ReadFile(m.Config.ConfigFile)
		if err != nil {
			m.Logger.Error("stores not reloaded", "error", err)
			continue
		}
		last = b
		next, err := parseStores(m.Config.ConfigFile, b, m.Config, os.LookupEnv)
		if err != nil {
			m.Logger.Error("stores not reloaded", "error", err)
			continue
		}
		m.fleet.apply(ctx, next)
		m.Logger.Info("stores reloaded", "stores", len(next))
	}
}

// storeConfigPoll is how often the agent looks for a changed --config
// file (SIGHUP reloads at once).
const storeConfigPoll = 2 * time.Second
