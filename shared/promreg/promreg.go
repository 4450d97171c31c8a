// Package promreg registers Prometheus collectors that several instances
// of one component may share (two clients on one registry, a component
// restarted in tests): the second instance gets the collector already
// registered instead of an error.
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
