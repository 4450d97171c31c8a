package hooks_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/hooks"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

func MustStore(t *testing.T, opts woosim.Options) (*woosim.Server, *wooclient.Client) {
	t.Helper()
	sim := woosimtest.Start(t, opts, woosim.SeedOptions{})
	return sim, wooclienttest.New(t, sim)
}

// MustManager returns a manager whose store delivers to a real listener
// that reports pings and deliveries to it.
func MustManager(t *testing.T, c hooks.Client, secret string) *hooks.Manager {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	m, err := hooks.NewManager(c, "http://"+srv.Listener.Addr().String()+"/webhooks/woocommerce", secret,
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		if id, ok := strings.CutPrefix(b.String(), "webhook_id="); ok && r.Header.Get(woo.HeaderWebhookSignature) == "" {
			_ = id
			m.Pinged(1)
		} else {
			m.Delivered(r.Header.Get(woo.HeaderWebhookTopic), 1)
		}
		w.WriteHeader(http.StatusOK)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return m
}

func byTopic(ws []woosim.WebhookInfo, url string) map[string][]woosim.WebhookInfo {
	out := map[string][]woosim.WebhookInfo{}
	for _, w := range ws {
		if w.DeliveryURL == url {
			out[w.Topic] = append(out[w.Topic], w)
		}
	}
	return out
}

func TestManager_Ensure(t *testing.T) {
	t.Parallel()
	sim, c := MustStore(t, woosim.Options{WebhookDelay: -1})
	ctx := t.Context()
	m := MustManager(t, c, "agent-secret")
	base := strings.TrimSuffix(m.DeliveryURL, "/webhooks/woocommerce")

	// Someone else's webhook, and a stale one of ours at an old URL.
	foreign, err := c.CreateWebhook(ctx, woo.Webhook{Name: "erp order.created", Topic: woo.TopicOrderCreated, DeliveryURL: base + "/erp"})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := c.CreateWebhook(ctx, woo.Webhook{Name: "stockwire order.created", Topic: woo.TopicOrderCreated, DeliveryURL: base + "/old"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Creates", func(t *testing.T) {
		res, err := m.Ensure(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 7 || res.Deleted != 1 {
			t.Fatalf("Ensure=%+v, want 7 created, 1 deleted", res)
		}
		got := byTopic(sim.Store.Webhooks(), m.DeliveryURL)
		for _, topic := range hooks.DefaultTopics {
			if len(got[topic]) != 1 || got[topic][0].Status != "active" {
				t.Fatalf("topic %s: %+v", topic, got[topic])
			}
		}
		ids := map[int64]bool{}
		for _, w := range sim.Store.Webhooks() {
			ids[w.ID] = true
		}
		if !ids[foreign.ID] || ids[stale.ID] {
			t.Fatalf("foreign kept=%v, stale kept=%v", ids[foreign.ID], ids[stale.ID])
		}
		// WooCommerce pings on create.
		if !m.Reached() {
			t.Fatal("Reached=false after the store pinged")
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		res, err := m.Ensure(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res != (hooks.Result{Kept: 7}) {
			t.Fatalf("Ensure=%+v, want 7 kept", res)
		}
	})

	t.Run("RecreatesDisabledReenablesPaused", func(t *testing.T) {
		got := byTopic(sim.Store.Webhooks(), m.DeliveryURL)
		dis := got[woo.TopicOrderUpdated][0].ID
		pau := got[woo.TopicOrderCreated][0].ID
		if _, err := c.UpdateWebhook(ctx, dis, woo.Webhook{Status: "disabled"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateWebhook(ctx, pau, woo.Webhook{Status: "paused"}); err != nil {
			t.Fatal(err)
		}
		// A duplicate of ours.
		if _, err := c.CreateWebhook(ctx, woo.Webhook{Name: m.WebhookName(woo.TopicProductUpdated), Topic: woo.TopicProductUpdated, DeliveryURL: m.DeliveryURL}); err != nil {
			t.Fatal(err)
		}
		res, err := m.Ensure(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Recreated != 1 || res.Reenabled != 1 || res.Deleted != 1 {
			t.Fatalf("Ensure=%+v", res)
		}
		got = byTopic(sim.Store.Webhooks(), m.DeliveryURL)
		for _, topic := range hooks.DefaultTopics {
			if len(got[topic]) != 1 || got[topic][0].Status != "active" {
				t.Fatalf("topic %s: %+v", topic, got[topic])
			}
		}
		if got[woo.TopicOrderUpdated][0].ID == dis {
			t.Fatal("disabled webhook re-enabled in place, want recreated")
		}
		if got[woo.TopicOrderCreated][0].ID != pau {
			t.Fatal("paused webhook recreated, want re-enabled")
		}
	})
}

func TestManager_SaysWhenWebhooksDoNotArrive(t *testing.T) {
	t.Parallel()
	// The store refuses loopback targets, as WordPress does.
	_, c := MustStore(t, woosim.Options{WebhookDelay: -1, RefusePrivateWebhooks: true})
	var logs systest.SyncBuffer
	m, err := hooks.NewManager(c, "http://127.0.0.1:9/webhooks/woocommerce", "agent-secret", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m.Interval, m.Patience = time.Hour, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	systest.WaitFor(t, 10*time.Second, "the plain warning", func() error {
		if !strings.Contains(logs.String(), "webhooks from the store do not reach the agent") {
			return fmt.Errorf("not logged; logs:\n%s", logs.String())
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "http_request_host_is_external") || strings.Contains(out, "agent-secret") {
		t.Fatalf("warning lacks the fix or leaks the secret:\n%s", out)
	}
	if n := strings.Count(out, "do not reach the agent"); n != 1 {
		t.Fatalf("warning logged %d times, want once", n)
	}
	if m.Reached() {
		t.Fatal("Reached=true without ping or delivery")
	}
	if got, want := m.Health(), wire.WebhookHealthFailing; got != want {
		t.Fatalf("Health=%q, want %q", got, want)
	}
}

func TestNewManager_Invalid(t *testing.T) {
	t.Parallel()
	_, c := MustStore(t, woosim.Options{})
	for name, args := range map[string][2]string{
		"NoDeliveryURL": {"", "agent-secret"},
		"NoSecret":      {"http://agent.example/webhooks/woocommerce", ""},
	} {
		if _, err := hooks.NewManager(c, args[0], args[1], nil); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := hooks.NewManager(nil, "http://agent.example/webhooks/woocommerce", "agent-secret", nil); err == nil {
		t.Error("NoClient: want an error")
	}
}

// Webhook health is unknown until something shows it: after a restart
// that finds the webhooks in place, no ping comes and silence proves
// nothing; an unsigned ping (anyone can send one) never makes it ok; a
// signed delivery does; an order the poll found whose webhook never came
// makes it failing, said once, until the next signed delivery.
func TestManager_Health(t *testing.T) {
	t.Parallel()
	_, c := MustStore(t, woosim.Options{WebhookDelay: -1})
	first := MustManager(t, c, "agent-secret")
	if res, err := first.Ensure(t.Context()); err != nil || res.Created != len(hooks.DefaultTopics) {
		t.Fatalf("first Ensure=%+v, %v; want every webhook created", res, err)
	}

	// The restarted agent: same delivery URL, its webhooks in place.
	var logs systest.SyncBuffer
	m, err := hooks.NewManager(c, first.DeliveryURL, "agent-secret", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	m.Now = func() time.Time { return time.Unix(0, now.Load()) }
	if res, err := m.Ensure(t.Context()); err != nil || res.Kept != len(hooks.DefaultTopics) {
		t.Fatalf("Ensure after a restart=%+v, %v; want every webhook kept", res, err)
	}
	health := func(want string) {
		t.Helper()
		if got := m.Health(); got != want {
			t.Fatalf("Health=%q, want %q", got, want)
		}
	}
	t.Run("QuietAfterRestartIsUnknown", func(t *testing.T) {
		health(wire.WebhookHealthUnknown)
		now.Add(int64(10 * m.Patience))
		m.Check()
		health(wire.WebhookHealthUnknown)
		if strings.Contains(logs.String(), "do not reach the agent") {
			t.Fatalf("warned of webhooks not arriving after a restart with no order:\n%s", logs.String())
		}
	})
	t.Run("UnsignedPingIsNotHealth", func(t *testing.T) {
		m.Pinged(1)
		health(wire.WebhookHealthUnknown)
	})
	t.Run("SignedDeliveryIsOK", func(t *testing.T) {
		m.Delivered(woo.TopicOrderCreated, 1)
		health(wire.WebhookHealthOK)
	})
	t.Run("SomeLost", func(t *testing.T) {
		// Deliveries keep arriving while the poll finds orders without
		// theirs: one warning with the count per Patience, no error, no
		// "arriving" at each delivery.
		before := len(logs.String())
		for i := range 6 {
			now.Add(int64(time.Second))
			m.MissedDelivery(int64(1080 + i))
			health(wire.WebhookHealthFailing)
			m.Delivered(woo.TopicOrderUpdated, 1)
			health(wire.WebhookHealthOK)
		}
		now.Add(int64(m.Patience))
		m.Delivered(woo.TopicOrderUpdated, 1)
		m.MissedDelivery(1090)
		text := logs.String()[before:]
		if strings.Contains(text, "do not reach the agent") || strings.Contains(text, "deliveries arriving") {
			t.Fatalf("a store losing some webhooks logged an error or arrivals:\n%s", text)
		}
		if got, want := strings.Count(text, "some webhooks from the store are lost"), 2; got != want {
			t.Fatalf("%d warnings of lost webhooks, want %d (one per Patience):\n%s", got, want, text)
		}
		if !strings.Contains(text, "orders_without_webhook=6") {
			t.Fatalf("the second warning does not count the 6 orders missed since the first:\n%s", text)
		}
	})
	t.Run("MissedOrderIsFailing", func(t *testing.T) {
		// Nothing delivered for longer than Patience: the webhooks do not
		// reach the agent.
		now.Add(int64(2 * m.Patience))
		m.MissedDelivery(1093)
		m.MissedDelivery(1094)
		health(wire.WebhookHealthFailing)
		if n := strings.Count(logs.String(), "do not reach the agent"); n != 1 {
			t.Fatalf("warned %d times for two missed orders, want once:\n%s", n, logs.String())
		}
		m.Delivered(woo.TopicOrderUpdated, 1)
		health(wire.WebhookHealthOK)
	})
}
