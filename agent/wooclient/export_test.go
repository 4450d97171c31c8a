package wooclient

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/woo"
)

// MetricRequests exposes the request counter for one route and code.
func (c *Client) MetricRequests(route, code string) prometheus.Counter {
	return c.metrics.requests.WithLabelValues(route, code)
}

// MetricRetries exposes the retry counter.
func (c *Client) MetricRetries() prometheus.Counter { return c.metrics.retries }

// MetricDeferred exposes the gauge of requests held back for urgent ones.
func (c *Client) MetricDeferred() prometheus.Gauge { return c.metrics.deferred }

// DecodeBatch decodes a batch update's answer as the client does.
func DecodeBatch(body []byte) ([]woo.Product, []*woo.APIError, error) {
	var b batchAnswer
	if err := b.decodeAnswer(body); err != nil {
		return nil, nil, err
	}
	var ps []woo.Product
	var errs []*woo.APIError
	for _, it := range b.Update {
		ps, errs = append(ps, it.Product), append(errs, it.Error)
	}
	return ps, errs, nil
}
