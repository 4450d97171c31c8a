package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/scrape"
)

// adminToken is the admin API token of every hub the benchmark starts.
const adminToken = "linkbench-admin-token-0123456789"

// hubProc is one running hub process and a client of its admin API.
type hubProc struct {
	proc *launch.Proc
	base string // http://127.0.0.1:port
	http *http.Client
}

// startHub starts `hub serve` on a fresh database of the cluster and waits
// until it is ready.
func (b *bench) startHub(ctx context.Context, name string) (*hubProc, error) {
	b.hubs++
	dbname := fmt.Sprintf("linkbench_%d_%s", b.hubs, name)
	if err := b.env.Cluster.CreateDatabase(ctx, dbname); err != nil {
		return nil, err
	}
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := launch.Start("hub-"+name, b.binary("hub"), []string{"serve",
		"--listen", addr, "--database-url", b.env.Cluster.DSN(dbname), "--admin-token", adminToken,
		"--data-dir", b.path("hub-" + name), "--log-format", "text"}, nil,
		b.path("logs", "hub-"+name+".log"), nil)
	if err != nil {
		return nil, err
	}
	h := &hubProc{proc: p, base: "http://" + addr, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitHTTP(wctx, h.base+"/readyz"); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *hubProc) stop() {
	h.proc.Stop(15 * time.Second)
	h.http.CloseIdleConnections()
}

func (h *hubProc) pid() int { return h.proc.Cmd.Process.Pid }

// api calls the admin API and decodes a JSON answer into out (when not nil).
func (h *hubProc) api(ctx context.Context, method, path string, body, out any) error {
	c := hubapi.Client{BaseURL: h.base, AdminToken: adminToken, HTTP: h.http}
	return c.DoJSON(ctx, method, path, body, out)
}

// setOnHand sets the count of sku at the benchmark's one location.
func (h *hubProc) setOnHand(ctx context.Context, sku string, n int64) error {
	return h.api(ctx, http.MethodPut, "/api/v1/skus/"+url.PathEscape(sku)+"/locations/main",
		map[string]any{"on_hand": n, "reason": "linkbench"}, nil)
}

// createStore adds a mirror store and returns its id and agent credential.
func (h *hubProc) createStore(ctx context.Context, name, storeURL string) (int64, string, error) {
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	err := h.api(ctx, http.MethodPost, "/api/v1/stores",
		map[string]any{"name": name, "url": storeURL, "policy": "mirror", "buffer": 0}, &out)
	return out.ID, out.Token, err
}

// skuStock is the hub's figure for one SKU (GET /api/v1/skus).
type skuStock struct {
	SKU       string           `json:"sku"`
	OnHand    int64            `json:"on_hand"`
	Committed int64            `json:"committed"`
	Available int64            `json:"available"`
	Targets   map[string]int64 `json:"targets"` // by store id
}

// target is what the hub wants store id to show.
func (s skuStock) target(storeID int64) (int64, bool) {
	t, ok := s.Targets[strconv.FormatInt(storeID, 10)]
	return t, ok
}

// stock lists every SKU's figures, page by page.
func (h *hubProc) stock(ctx context.Context) ([]skuStock, error) {
	var all []skuStock
	after := ""
	for {
		var page struct {
			SKUs []skuStock `json:"skus"`
			Next string     `json:"next"`
		}
		if err := h.api(ctx, http.MethodGet, "/api/v1/skus?limit=1000&after="+url.QueryEscape(after), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.SKUs...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// agentStates returns whether each store's agent is connected, by store id.
func (h *hubProc) agentStates(ctx context.Context) (map[int64]bool, error) {
	var out struct {
		Stores []struct {
			ID    int64 `json:"id"`
			Agent struct {
				Connected bool `json:"connected"`
			} `json:"agent"`
		} `json:"stores"`
	}
	if err := h.api(ctx, http.MethodGet, "/api/v1/stores", nil, &out); err != nil {
		return nil, err
	}
	connected := make(map[int64]bool, len(out.Stores))
	for _, s := range out.Stores {
		connected[s.ID] = s.Agent.Connected
	}
	return connected, nil
}

// metrics scrapes the hub's /metrics.
func (h *hubProc) metrics(ctx context.Context) (scrape.Page, error) {
	return scrape.Get(ctx, h.http, h.base+"/metrics")
}

// loadAverage returns the 1-minute load average as /proc/loadavg shows it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(data), " ")
	return first
}
