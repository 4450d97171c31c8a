package hooks

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/shared/promreg"
)

// Webhook delivery modes of a store, as Mode judges them.
const (
	// ModeSync: deliveries come at the end of the request that caused
	// them (the must-use plugin agent/wordpress/stockwire-sync-webhooks.php).
	ModeSync = "sync"
	// ModeAsync: deliveries wait for WooCommerce's queue (Action
	// Scheduler, WP-Cron): WooCommerce's default.
	ModeAsync = "async"
	// ModePolling: no webhooks arrive (off, or failing); orders reach the
	// agent by polling alone.
	ModePolling = "polling"
	// ModeUnknown: too few deliveries measured yet.
	ModeUnknown = "unknown"
)

// Modes lists every mode, for the metric.
var Modes = []string{ModeSync, ModeAsync, ModePolling, ModeUnknown}

const (
	// SlowLag is the median delivery lag above which the store is judged
	// to deliver asynchronously. The plugin's deliveries take well under
	// it, WooCommerce's queue well over.
	SlowLag = 500 * time.Millisecond
	// FastLag is the median lag a store judged async must fall to before
	// it is judged sync again (see judge).
	FastLag = 400 * time.Millisecond
	// MinLagSamples is how many order deliveries Mode waits for before
	// judging.
	MinLagSamples = 5
	// lagWindow is how many recent deliveries Mode judges from, so that
	// installing the plugin shows within a few dozen orders.
	lagWindow = 32
)

// PluginAdvice is what the agent recommends when deliveries are slow, with
// the figures measured on real stores.
const PluginAdvice = "WooCommerce queues webhooks for Action Scheduler/WP-Cron by default: copy " +
	"agent/wordpress/stockwire-sync-webhooks.php into wp-content/mu-plugins/ on the store to deliver them " +
	"at the end of the request that caused them. On two real WooCommerce 11.0.1 stores a sale reached the " +
	"other store in 1.05 s p50 (1.4 s max) with the default async webhooks vs 0.30 s p50 (0.40 s max) with " +
	"the plugin; checkout took 0.22 s with it vs 0.20 s without."

// DeliveryMode is what the deliveries measured so far say of how the store
// delivers its webhooks.
type DeliveryMode struct {
	// Mode is one of ModeSync, ModeAsync, ModePolling, ModeUnknown.
	Mode string
	// LagP50 is the median lag of the recent order deliveries (see Lag);
	// zero while none was measured.
	LagP50 time.Duration
	// Samples is how many deliveries LagP50 comes from.
	Samples int
	// Advice says what to do, empty when nothing.
	Advice string
}

// LogValue puts a mode on one log line.
func (d DeliveryMode) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("mode", d.Mode)}
	if d.Samples > 0 {
		attrs = append(attrs, slog.String("lag_p50", d.LagP50.Round(time.Millisecond).String()), slog.Int("samples", d.Samples))
	}
	if d.Advice != "" {
		attrs = append(attrs, slog.String("advice", d.Advice))
	}
	return slog.GroupValue(attrs...)
}

// Lag records the lag of a signed order delivery: from the order's
// date_modified, as the store sent it, to received (wire it to
// webhook.Handler.OnOrderLag). WooCommerce gives date_modified in whole
// seconds, which makes every lag look 0.5 s longer on average; Mode
// takes that off while every date seen was whole. It assumes the store's
// clock and the agent's agree (NTP). It judges the mode, and logs when
// the judgement changes.
func (m *Manager) Lag(modified, received time.Time) {
	m.mu.Lock()
	if len(m.lags) == 0 {
		m.wholeSeconds = true
	}
	m.lags = append(m.lags, received.Sub(modified))
	if len(m.lags) > lagWindow {
		m.lags = m.lags[len(m.lags)-lagWindow:]
	}
	m.wholeSeconds = m.wholeSeconds && modified.Nanosecond() == 0
	changed := m.judge()
	// This delivery arrived: report from the lags alone (Delivered clears
	// failing right after).
	d := m.lagMode()
	m.mu.Unlock()
	if changed {
		m.Logger.Info("webhook delivery mode", "webhook_mode", d)
	}
}

// judge updates the judged mode from the lags, and reports whether it
// changed. The first judgement comes with MinLagSamples deliveries: async
// when their median lag exceeds SlowLag, else sync. A store judged async
// stays so while the median exceeds FastLag. A judgement changes only
// once lagWindow deliveries in a row said otherwise: with whole-second
// dates the median of a window moves by a tenth of a second from one
// delivery to the next, and a store delivering at about SlowLag would
// flip (and log) at every few orders. The caller holds mu.
func (m *Manager) judge() bool {
	p50 := m.lagP50()
	now := ModeSync
	switch {
	case len(m.lags) < MinLagSamples:
		return false
	case p50 > SlowLag, p50 > FastLag && m.judged == ModeAsync:
		now = ModeAsync
	}
	switch {
	case now == m.judged:
		m.contrary = 0
		return false
	case m.judged != ModeUnknown:
		if m.contrary++; m.contrary < lagWindow {
			return false
		}
	}
	m.judged, m.contrary = now, 0
	return true
}

// Mode says how the store delivers webhooks: polling while deliveries
// fail, else the mode judged from the order deliveries' lags (unknown
// until MinLagSamples were measured; see Lag), with PluginAdvice when
// async.
func (m *Manager) Mode() DeliveryMode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mode()
}

// mode is Mode; the caller holds mu.
func (m *Manager) mode() DeliveryMode {
	if m.failing {
		return DeliveryMode{Mode: ModePolling, Advice: FixHint}
	}
	return m.lagMode()
}

// lagMode is the judged mode with the lags' median; the caller holds mu.
func (m *Manager) lagMode() DeliveryMode {
	d := DeliveryMode{Mode: m.judged, Samples: len(m.lags), LagP50: m.lagP50()}
	if d.Mode == ModeAsync {
		d.Advice = PluginAdvice
	}
	return d
}

// lagP50 is the median of the lags, less the half second of whole-second
// dates; zero without lags. The caller holds mu.
func (m *Manager) lagP50() time.Duration {
	if len(m.lags) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(m.lags))
	p50 := sorted[len(sorted)/2]
	if m.wholeSeconds {
		p50 -= 500 * time.Millisecond
	}
	return max(p50, 0)
}

// RegisterModeMetric registers stockwire_agent_webhook_delivery_mode on
// reg: one series per mode, 1 for the one mode() returns at scrape time,
// 0 for the others.
func RegisterModeMetric(reg prometheus.Registerer, mode func() string) error {
	set := promreg.NewSet(reg)
	for _, name := range Modes {
		set.Own(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "stockwire", Subsystem: "agent", Name: "webhook_delivery_mode",
			Help:        "How the store delivers webhooks (sync, async, polling, unknown): 1 for the current mode.",
			ConstLabels: prometheus.Labels{"mode": name},
		}, func() float64 {
			if mode() == name {
				return 1
			}
			return 0
		}))
	}
	if err := set.Err(); err != nil {
		return fmt.Errorf("register webhook mode metric: %w", err)
	}
	return nil
}
