// Package scrape reads a process's Prometheus /metrics page, for the tools
// and tests that check a hub's or an agent's figures: one parser, the
// exposition format's own (prometheus/common/expfmt), instead of one per
// tool.
package scrape

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Page is one read of a /metrics page: its metric families by name.
type Page map[string]*dto.MetricFamily

// Get reads the page at url (…/metrics) with client (nil:
// http.DefaultClient).
func Get(ctx context.Context, client *http.Client, url string) (Page, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	p, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return p, nil
}

// Parse reads a page in the text exposition format.
func Parse(r io.Reader) (Page, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	return Page(families), nil
}

// Sum is the sum over name's series whose labels include labels (pairs:
// name, value, name, value…), and whether any matched: the value of a
// counter, gauge or untyped series, the sample sum of a histogram or
// summary.
func (p Page) Sum(name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for _, m := range p.series(name, labels) {
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		case m.Histogram != nil:
			sum += m.Histogram.GetSampleSum()
		case m.Summary != nil:
			sum += m.Summary.GetSampleSum()
		}
	}
	return sum, found
}

// Count is the sample count of name's histogram or summary series whose
// labels include labels, summed.
func (p Page) Count(name string, labels ...string) uint64 {
	var n uint64
	for _, m := range p.series(name, labels) {
		n += m.GetHistogram().GetSampleCount() + m.GetSummary().GetSampleCount()
	}
	return n
}

// LabelValues lists the values label takes in name's series, sorted.
func (p Page) LabelValues(name, label string) []string {
	var out []string
	for _, m := range p.series(name, nil) {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// series returns name's series whose labels include labels.
func (p Page) series(name string, labels []string) []*dto.Metric {
	f := p[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.GetMetric() {
		if hasLabels(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}) {
			return false
		}
	}
	return true
}
