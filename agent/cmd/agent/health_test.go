package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// healthz returns the agent's /healthz.
func healthz(listen string) (map[string]any, error) {
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, fmt.Errorf("/healthz: %s: %w", resp.Status, err)
	}
	return h, nil
}

// webhooksAre waits until /healthz says webhooks are want.
func webhooksAre(t *testing.T, listen, want string) {
	t.Helper()
	systest.WaitFor(t, 30*time.Second, "/healthz webhooks="+want, func() error {
		h, err := healthz(listen)
		if err != nil {
			return err
		}
		if got := h["webhooks"]; got != want {
			return fmt.Errorf("webhooks=%v", got)
		}
		return nil
	})
}

// Webhook health is unknown at start, though the store pinged (anyone can
// send a ping), becomes ok with the first signed delivery, and is unknown
// again after a restart that finds the webhooks in place.
func TestAgent_WebhookHealth(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	_, token := h.CreateStore("webhook-health-shop", sim.URL, "mirror")
	a := systest.StartAgent(t, systest.AgentOptions{Hub: h.URL(), StoreURL: sim.URL, Token: token, ConsumerKey: key, ConsumerSecret: secret})
	systest.WaitFor(t, 30*time.Second, "the store's ping", func() error {
		if !strings.Contains(systest.Output(t, a.Proc), `msg="webhook ping received"`) {
			return fmt.Errorf("no ping yet")
		}
		return nil
	})
	webhooksAre(t, a.Listen, "unknown")

	if _, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sim.Store.SKUs()[0], Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	webhooksAre(t, a.Listen, "ok")

	if err := a.Proc.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	a.Start()
	webhooksAre(t, a.Listen, "unknown")
}

// /metrics is served on --metrics-listen only, never on the webhook
// listener, which WooCommerce must reach and is often public.
func TestAgent_MetricsListener(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	key, secret := newKeys()
	sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
	_, token := h.CreateStore("metrics-listener-shop", sim.URL, "mirror")
	a := systest.StartAgent(t, systest.AgentOptions{Hub: h.URL(), StoreURL: sim.URL, Token: token, ConsumerKey: key, ConsumerSecret: secret})

	resp, err := http.Get("http://" + a.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on the webhook listener: %s, want 404", resp.Status)
	}
	systest.WaitFor(t, 30*time.Second, "metrics on the metrics listener", func() error {
		n, err := metric(a.MetricsListen, "stockwire_agent_hub_connected")
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("stockwire_agent_hub_connected=%v", n)
		}
		return nil
	})
	if _, err := healthz(a.MetricsListen); err != nil {
		t.Fatalf("/healthz on the metrics listener: %v", err)
	}
}

// The agent judges the store's webhook delivery mode from the lag of the
// order deliveries: /healthz and stockwire_agent_webhook_delivery_mode say
// unknown until five have come, then sync for a store that delivers at
// once (the must-use plugin), and async, recommending the plugin, for one
// that delivers two seconds late (WooCommerce's queue).
func TestAgent_WebhookMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		delay  time.Duration
		mode   string
		advice bool
	}{
		{"Sync", -1, "sync", false},
		{"Async", 2 * time.Second, "async", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startHub(t)
			key, secret := newKeys()
			sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret, WebhookDelay: tt.delay})
			sku := sim.Store.SKUs()[0]
			onHand := int64(100)
			h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": onHand}, nil)
			_, token := h.CreateStore("webhook-mode-"+tt.name, sim.URL, "mirror")
			a := systest.StartAgent(t, systest.AgentOptions{Hub: h.URL(), StoreURL: sim.URL, Token: token, ConsumerKey: key, ConsumerSecret: secret})
			systest.WaitFor(t, 30*time.Second, "the start line with the mode", func() error {
				if !strings.Contains(systest.Output(t, a.Proc), "webhook_mode.mode=unknown") {
					return fmt.Errorf("no webhook_mode.mode=unknown in the log yet")
				}
				return nil
			})
			h.WaitConnected("webhook-mode-"+tt.name, true)
			systest.WaitFor(t, 30*time.Second, "the store shows the hub's count", func() error {
				if got, _ := sim.Store.StockBySKU(sku); got != onHand {
					return fmt.Errorf("stock=%d", got)
				}
				return nil
			})
			for range 5 {
				if _, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: sku, Quantity: 1}}); err != nil {
					t.Fatal(err)
				}
			}
			systest.WaitFor(t, 60*time.Second, "/healthz webhook_mode="+tt.mode, func() error {
				hz, err := healthz(a.Listen)
				if err != nil {
					return err
				}
				if got := hz["webhook_mode"]; got != tt.mode {
					return fmt.Errorf("webhook_mode=%v (lag p50 %v s)", got, hz["webhook_lag_p50_seconds"])
				}
				if advice, _ := hz["webhook_advice"].(string); tt.advice != strings.Contains(advice, "stockwire-sync-webhooks.php") {
					return fmt.Errorf("webhook_advice=%q", advice)
				}
				return nil
			})
			for _, mode := range []string{"sync", "async", "polling", "unknown"} {
				want := 0.0
				if mode == tt.mode {
					want = 1
				}
				if got, err := metric(a.MetricsListen, "stockwire_agent_webhook_delivery_mode", "mode", mode); err != nil || got != want {
					t.Fatalf("stockwire_agent_webhook_delivery_mode{mode=%q}=%v (%v), want %v", mode, got, err, want)
				}
			}
			if !regexp.MustCompile(`msg="webhook delivery mode" .*webhook_mode.mode=` + tt.mode).MatchString(systest.Output(t, a.Proc)) {
				t.Fatalf("no log line on the judged mode:\n%s", systest.Output(t, a.Proc))
			}
		})
	}
}
