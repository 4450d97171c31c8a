package wooclient

import "github.com/prometheus/client_golang/prometheus"

// MetricRequests exposes the request counter for one route and code.
func (c *Client) MetricRequests(route, code string) prometheus.Counter {
	return c.metrics.requests.WithLabelValues(route, code)
}

// MetricRetries exposes the retry counter.
func (c *Client) MetricRetries() prometheus.Counter { return c.metrics.retries }

// MetricDeferred exposes the gauge of requests held back for urgent ones.
func (c *Client) MetricDeferred() prometheus.Gauge { return c.metrics.deferred }
