package main

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// storeRegisterer registers one store's collectors on the agent's registry
// with the label store="<name>", and remembers them, so that a store
// removed at runtime takes its series with it and can be added again.
// Every agent metric thus has one family on /metrics, a series per store.
type storeRegisterer struct {
	reg prometheus.Registerer // the registry, wrapped with the label

	mu         sync.Mutex
	collectors []prometheus.Collector // guarded by mu
}

func newStoreRegisterer(reg prometheus.Registerer, store string) *storeRegisterer {
	return &storeRegisterer{reg: prometheus.WrapRegistererWith(prometheus.Labels{"store": store}, reg)}
}

// Register registers c with the store label.
func (r *storeRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister registers cs, panicking on an error.
func (r *storeRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c.
func (r *storeRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// unregisterAll unregisters every collector the store registered.
func (r *storeRegisterer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.collectors {
		r.reg.Unregister(c)
	}
	r.collectors = nil
}
