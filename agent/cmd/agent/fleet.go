package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockwire/stockwire/shared/backoff"
)

// fleet runs the stores of a multi-store agent, each in its own goroutine,
// and adds, restarts and removes them as --config changes. A store that
// cannot start (down, refusing its keys, its credential revoked) is tried
// again with backoff while the others run on.
type fleet struct {
	m *Main
	// retry paces a store's new attempts after a failed start or run.
	retry backoff.Policy

	// routes maps a webhook path to the receiver of the store running
	// there; replaced whole, so a delivery takes no lock.
	routes atomic.Pointer[map[string]http.Handler]

	mu     sync.Mutex
	stores map[string]*fleetStore // by name; guarded by mu
}

// fleetStore is one store of the fleet and its goroutine.
type fleetStore struct {
	cfg    StoreConfig
	cancel context.CancelFunc
	done   chan struct{} // closed when its goroutine has ended

	agent   *storeAgent // running; nil while starting. Guarded by fleet.mu.
	lastErr string      // why the last start or run failed. Guarded by fleet.mu.
}

// errStoreStopped says a store's parts all ended with no error and
// nobody stopping them.
var errStoreStopped = errors.New("store stopped")

func newFleet(m *Main) *fleet {
	f := &fleet{m: m, retry: backoff.Policy{Min: time.Second, Max: time.Minute}, stores: map[string]*fleetStore{}}
	f.routes.Store(&map[string]http.Handler{})
	return f
}

// apply makes the fleet run stores: it stops those no longer listed or
// whose entry changed, then starts the new and changed ones. Only the
// goroutine that loads --config calls it.
func (f *fleet) apply(ctx context.Context, stores []StoreConfig) {
	want := map[string]StoreConfig{}
	for _, c := range stores {
		want[c.Name] = c
	}
	f.mu.Lock()
	var stop []*fleetStore
	for name, fs := range f.stores {
		if c, ok := want[name]; !ok || c != fs.cfg {
			stop = append(stop, fs)
			delete(f.stores, name)
		}
	}
	f.mu.Unlock()
	for _, fs := range stop {
		fs.cancel()
		<-fs.done
		f.m.Logger.Info("store removed", "store", fs.cfg.Name)
	}
	for _, c := range stores {
		f.mu.Lock()
		_, running := f.stores[c.Name]
		f.mu.Unlock()
		if !running {
			f.start(ctx, c)
		}
	}
}

// start runs store c in its own goroutine until stopped.
func (f *fleet) start(ctx context.Context, c StoreConfig) {
	ctx, cancel := context.WithCancel(ctx)
	fs := &fleetStore{cfg: c, cancel: cancel, done: make(chan struct{})}
	f.mu.Lock()
	f.stores[c.Name] = fs
	f.mu.Unlock()
	go f.run(ctx, fs)
}

// run opens and runs one store, again after a backoff whenever it fails,
// until ctx ends.
func (f *fleet) run(ctx context.Context, fs *fleetStore) {
	defer close(fs.done)
	logger := f.m.Logger.With("store", fs.cfg.Name)
	for attempt := 0; ; attempt++ {
		a, err := f.m.openStore(ctx, fs.cfg)
		if err == nil {
			attempt = 0
			f.setAgent(fs, a, "")
			err = a.run(ctx)
			f.setAgent(fs, nil, "")
			if cerr := a.close(); cerr != nil {
				logger.Warn("close store", "error", cerr)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errStoreStopped
		}
		// A human must act (keys, credential, a store down for good);
		// the other stores are served meanwhile.
		logger.Error("store stopped; trying again", "consecutive_errors", attempt+1, "error", err)
		f.setAgent(fs, nil, err.Error())
		if backoff.Sleep(ctx, f.retry.Delay(attempt)) != nil {
			return
		}
	}
}

// setAgent records the store's running agent (nil: none) and publishes
// the webhook routes.
func (f *fleet) setAgent(fs *fleetStore, a *storeAgent, lastErr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs.agent = a
	if lastErr != "" {
		fs.lastErr = lastErr
	}
	routes := map[string]http.Handler{}
	for _, s := range f.stores {
		if s.agent != nil {
			routes[s.cfg.WebhookPath] = s.agent.receiver
		}
	}
	f.routes.Store(&routes)
}

// stop stops every store and waits for them.
func (f *fleet) stop() {
	f.apply(context.Background(), nil)
}

// ServeHTTP hands a webhook delivery to the store its path names. A store
// not running answers 503: WooCommerce delivers it again later, and the
// order poll finds the order meanwhile.
func (f *fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := (*f.routes.Load())[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	http.Error(w, "store not running", http.StatusServiceUnavailable)
}

// health lists every store's health, by name.
func (f *fleet) health() []storeHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := make([]storeHealth, 0, len(f.stores))
	for _, fs := range f.stores {
		if fs.agent != nil {
			list = append(list, fs.agent.health())
		} else {
			list = append(list, storeHealth{Name: fs.cfg.Name, Status: "starting", Error: fs.lastErr})
		}
	}
	slices.SortFunc(list, func(a, b storeHealth) int { return strings.Compare(a.Name, b.Name) })
	return list
}
