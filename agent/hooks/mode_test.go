package hooks_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent/hooks"
	"github.com/stockwire/stockwire/agent/wooclient"
)

// newModeManager returns a manager for judging modes only: it never
// talks to a store.
func newModeManager(t *testing.T) *hooks.Manager {
	t.Helper()
	m, err := hooks.NewManager(&wooclient.Client{}, "http://127.0.0.1:1/webhooks/woocommerce", "secret",
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManager_Mode(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, n := range v {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		// lags measured from whole-second dates (WooCommerce's), or
		// from dates with milliseconds when subSecond.
		lags      []time.Duration
		subSecond bool
		want      string
		wantP50   time.Duration
	}{
		{"None", nil, false, hooks.ModeUnknown, 0},
		{"TooFew", ms(100, 200, 300, 400), false, hooks.ModeUnknown, 0},
		// The plugin: 0.1–0.3 s late, plus up to a second of truncation.
		{"Sync", ms(150, 1100, 600, 900, 400, 700, 250), false, hooks.ModeSync, 100 * time.Millisecond},
		// WooCommerce's queue: about a second late, plus the truncation.
		{"Async", ms(1200, 1900, 1400, 1700, 1500), false, hooks.ModeAsync, time.Second},
		{"SubSecondDates", ms(600, 700, 650, 620, 680), true, hooks.ModeAsync, 650 * time.Millisecond},
		// The old lags leave the window, and the new judgement holds
		// for a window's deliveries before it stands.
		{"WindowForgetsOld", append(ms(5000, 5000, 5000, 5000, 5000), ms(slices.Repeat([]int{500}, 48)...)...), false, hooks.ModeSync, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newModeManager(t)
			for i, lag := range tt.lags {
				modified := base.Add(time.Duration(i) * time.Minute)
				if tt.subSecond {
					modified = modified.Add(123 * time.Millisecond)
				}
				m.Lag(modified, modified.Add(lag))
			}
			d := m.Mode()
			if got := d.Mode; got != tt.want {
				t.Fatalf("Mode=%v, want %v (%+v)", got, tt.want, d)
			}
			if tt.want != hooks.ModeUnknown || len(tt.lags) == 0 {
				if got := d.LagP50; got != tt.wantP50 {
					t.Fatalf("LagP50=%v, want %v", got, tt.wantP50)
				}
			}
			if got, want := strings.Contains(d.Advice, "stockwire-sync-webhooks.php"), tt.want == hooks.ModeAsync; got != want {
				t.Fatalf("Advice=%q, want the plugin named: %v", d.Advice, want)
			}
		})
	}
	t.Run("Failing", func(t *testing.T) {
		t.Parallel()
		m := newModeManager(t)
		for i := range 5 {
			modified := base.Add(time.Duration(i) * time.Minute)
			m.Lag(modified, modified.Add(300*time.Millisecond))
		}
		m.MissedDelivery(42)
		if got, want := m.Mode().Mode, hooks.ModePolling; got != want {
			t.Fatalf("Mode after a missed delivery=%v, want %v", got, want)
		}
		m.Delivered("order.updated", 1)
		if got, want := m.Mode().Mode, hooks.ModeSync; got != want {
			t.Fatalf("Mode after a delivery=%v, want %v", got, want)
		}
	})
}

// TestManager_ModeStandsNearTheThreshold: a store whose deliveries take
// about SlowLag (the chaos soak's stores deliver after 500 ms; the
// whole-second dates move the median of a window by a tenth of a second
// from one delivery to the next) keeps its judgement, where it used to
// flip, and log, every few orders. A lasting change still shows.
func TestManager_ModeStandsNearTheThreshold(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	m, err := hooks.NewManager(&wooclient.Client{}, "http://127.0.0.1:1/webhooks/woocommerce", "secret",
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Dates with milliseconds: no whole-second correction.
	at := time.Date(2026, 12, 6, 12, 0, 0, 123_000_000, time.UTC)
	feed := func(n, lag int) {
		for range n {
			at = at.Add(time.Minute)
			m.Lag(at, at.Add(time.Duration(lag)*time.Millisecond))
		}
	}
	expect := func(want string, logged int) {
		t.Helper()
		if got := m.Mode(); got.Mode != want {
			t.Fatalf("Mode=%+v, want %s", got, want)
		}
		if n := strings.Count(logs.String(), "webhook delivery mode"); n != logged {
			t.Fatalf("mode logged %d times, want %d:\n%s", n, logged, logs.String())
		}
	}
	feed(5, 450)
	expect(hooks.ModeSync, 1)
	for range 10 {
		// The median crosses SlowLag and back: 20 changes of mode
		// when each window's median decided.
		feed(9, 560)
		feed(9, 440)
	}
	expect(hooks.ModeSync, 1)
	feed(64, 700) // the store's queue slows down for good
	expect(hooks.ModeAsync, 2)
	feed(64, 450) // above FastLag: still async
	expect(hooks.ModeAsync, 2)
	feed(64, 150) // the plugin installed
	expect(hooks.ModeSync, 3)
}

func TestRegisterModeMetric(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	mode := hooks.ModeUnknown
	if err := hooks.RegisterModeMetric(reg, func() string { return mode }); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	mode = hooks.ModeAsync
	want := `
# HELP stockwire_agent_webhook_delivery_mode How the store delivers webhooks (sync, async, polling, unknown): 1 for the current mode.
# TYPE stockwire_agent_webhook_delivery_mode gauge
stockwire_agent_webhook_delivery_mode{mode="async"} 1
stockwire_agent_webhook_delivery_mode{mode="polling"} 0
stockwire_agent_webhook_delivery_mode{mode="sync"} 0
stockwire_agent_webhook_delivery_mode{mode="unknown"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stockwire_agent_webhook_delivery_mode"); err != nil {
		t.Fatal(err)
	}
}
