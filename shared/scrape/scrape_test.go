package scrape_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stockwire/stockwire/shared/scrape"
)

// TestGet reads the page client_golang serves, as the hub and the agent
// serve theirs.
func TestGet(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	edits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edits_total", Help: "h"}, []string{"store", "kind"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "depth", Help: "h"})
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "took_seconds", Help: "h"}, []string{"op"})
	reg.MustRegister(edits, depth, took)
	edits.WithLabelValues("a", "hand").Add(2)
	edits.WithLabelValues("b", "hand").Add(3)
	edits.WithLabelValues("b", "repair").Add(5)
	depth.Set(7)
	took.WithLabelValues("read").Observe(0.25)
	took.WithLabelValues("read").Observe(0.5)
	took.WithLabelValues("write").Observe(2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	p, err := scrape.Get(t.Context(), nil, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"edits_total", nil, 10, true},
		{"edits_total", []string{"store", "b"}, 8, true},
		{"edits_total", []string{"store", "b", "kind", "hand"}, 3, true},
		{"edits_total", []string{"store", "c"}, 0, false},
		{"depth", nil, 7, true},
		{"took_seconds", []string{"op", "read"}, 0.75, true},
		{"missing", nil, 0, false},
	} {
		if got, found := p.Sum(tc.name, tc.labels...); got != tc.want || found != tc.found {
			t.Errorf("Sum(%s, %v)=%v, %v; want %v, %v", tc.name, tc.labels, got, found, tc.want, tc.found)
		}
	}
	if got := p.Count("took_seconds", "op", "read"); got != 2 {
		t.Errorf("Count(took_seconds, op=read)=%d, want 2", got)
	}
	if got := p.LabelValues("took_seconds", "op"); len(got) != 2 || got[0] != "read" || got[1] != "write" {
		t.Errorf("LabelValues(took_seconds, op)=%v", got)
	}
}

func TestParse_Malformed(t *testing.T) {
	t.Parallel()
	for _, page := range []string{"depth seven\n", "depth{op=\"a} 1\n"} {
		if _, err := scrape.Parse(strings.NewReader(page)); err == nil {
			t.Errorf("Parse(%q): no error", page)
		}
	}
}
