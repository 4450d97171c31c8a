package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
)

// startMultiAgent runs one agent process serving every shop (agent
// --config) and waits until it answers; its stores start in the
// background, and waitSynced waits for them.
func (b *bench) startMultiAgent(ctx context.Context, h *hubProc, shops []*shop) (*launch.Proc, error) {
	dir := b.path(fmt.Sprintf("agents-%d", b.hubs))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var cfg strings.Builder
	cfg.WriteString("stores:\n")
	for _, s := range shops {
		key := fmt.Sprintf("%040d", s.idx)
		fmt.Fprintf(&cfg, "  - name: %s\n    url: %s\n    consumer_key: ck_%s\n    consumer_secret: cs_%s\n    token: %s\n",
			s.name, s.url, key, key, s.token)
	}
	config := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	listen, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := launch.Start("agent", b.binary("agent"), []string{
		"--hub", h.base, "--config", config,
		"--listen", listen, "--metrics-listen", "", "--public-url", "http://" + listen,
		"--data-dir", filepath.Join(dir, "data"),
		"--poll-interval", b.cfg.PollInterval.String(), "--log-format", "text"},
		nil, b.path("logs", fmt.Sprintf("agents-%d", b.hubs), "agent.log"), nil)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitHTTP(wctx, "http://"+listen+"/healthz"); err != nil {
		p.Kill()
		return nil, err
	}
	if exited, err := p.Exited(); exited {
		return nil, fmt.Errorf("agent exited at start: %v (log %s)", err, p.Log)
	}
	return p, nil
}
