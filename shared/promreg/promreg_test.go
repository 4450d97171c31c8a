package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

func TestReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "things_total", Help: "Things."}
	first, err := promreg.Reuse(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := promreg.Reuse(reg, prometheus.NewCounter(opts))
	if err != nil || second != first {
		t.Fatalf("second registration: %v, same collector %v; want the first one back", err, second == first)
	}
	// Same name, other help: a clash, reported.
	if _, err := promreg.Reuse(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "Other."})); err == nil {
		t.Fatal("a clashing collector was accepted")
	}
}
