// Package promreg registers Prometheus collectors that several instances
// of one component may share (two clients on one registry, a component
// restarted in tests): the second instance gets the collector already
// registered instead of an error. Set is how a component registers all its
// collectors: Add for those instances may share, Own for those that read
// one instance.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reuse registers c on reg, or returns the identical collector already
// registered there. Any other failure (a clashing metric) is returned with
// c.
func Reuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// Set registers one component's collectors on a Registerer and keeps the
// first error, so that a constructor builds every metric in one place and
// checks once. A Set on a nil Registerer registers nothing (a component
// built without metrics).
type Set struct {
	reg prometheus.Registerer
	err error
}

// NewSet returns a Set registering on reg (nil: nowhere).
func NewSet(reg prometheus.Registerer) *Set { return &Set{reg: reg} }

// Add registers c through Reuse, for collectors that hold their own
// figures (counters, gauges, histograms): a second instance of the
// component shares them. It returns the collector to use.
func Add[C prometheus.Collector](s *Set, c C) C {
	if s.reg == nil || s.err != nil {
		return c
	}
	c, s.err = Reuse(s.reg, c)
	return c
}

// Own registers c, a collector that reads one instance at scrape time
// (GaugeFunc, a custom Collector): a second instance on the same registry
// is an error, since the figures it would show are not its own.
func (s *Set) Own(c prometheus.Collector) {
	if s.reg == nil || s.err != nil {
		return
	}
	s.err = s.reg.Register(c)
}

// Err returns the first registration error, or nil.
func (s *Set) Err() error { return s.err }
