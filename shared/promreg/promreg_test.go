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

func TestSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "things_total", Help: "Things."}
	gauge := func() prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "depth", Help: "Depth."}, func() float64 { return 1 })
	}

	first := promreg.NewSet(reg)
	c1 := promreg.Add(first, prometheus.NewCounter(opts))
	first.Own(gauge())
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}

	second := promreg.NewSet(reg)
	if c2 := promreg.Add(second, prometheus.NewCounter(opts)); c2 != c1 || second.Err() != nil {
		t.Fatalf("counter shared %v, err %v; want the first one back", c2 == c1, second.Err())
	}
	second.Own(gauge())
	if second.Err() == nil {
		t.Fatal("a second instance's gauge func was accepted; it would show the first one's figure")
	}

	none := promreg.NewSet(nil)
	promreg.Add(none, prometheus.NewCounter(opts))
	none.Own(gauge())
	if none.Err() != nil {
		t.Fatalf("nil registerer: %v", none.Err())
	}
}
