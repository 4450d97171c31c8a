package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woosim"
)

// TestAgent_MultiStore runs one agent process for several stores, two of
// them sites of a multisite network known by their REST base: stock moves
// both ways between them, a store enrolled with a join token is added on
// SIGHUP, and one removed from the file stops while the others run on.
func TestAgent_MultiStore(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	a, b, c := newShop(t, "a"), newShop(t, "site-b"), newShop(t, "site-c")
	multisite(t, b, c)
	sku := a.sim.Store.SKUs()[0]
	setOnHand(h, sku, 10)
	a.register(h)
	b.register(h)
	a.secretEnv = "SHOP_A_CONSUMER_SECRET"
	ag := newMultiAgent(t, h, a.secretEnv+"="+a.secret)
	writeStores(t, ag.config, a, b)
	ag.start(t)
	h.WaitConnected("a", true)
	h.WaitConnected("site-b", true)
	waitShows(t, sku, 10, a, b)

	// A sale in one store reaches the other, both ways.
	a.checkout(t, sku, 2)
	waitCommitted(t, h, sku, 2)
	waitShows(t, sku, 8, a, b)
	// site-b's product.updated echo of the agent's write stops at the
	// receiver.
	echoes := []string{"result", "echo", "store", "site-b", "topic", "product.updated"}
	systest.WaitFor(t, 30*time.Second, "site-b's echo recognised", func() error {
		if got, err := ag.metric("stockwire_agent_webhooks_received_total", echoes...); err != nil || got == "" || got == "0" {
			return fmt.Errorf("echoes received %v = %q (%v)", echoes, got, err)
		}
		return nil
	})
	b.checkout(t, sku, 3)
	waitCommitted(t, h, sku, 5)
	waitShows(t, sku, 5, a, b)
	// One family per metric, a series per store.
	ag.waitStoreMetric(t, "stockwire_agent_hub_connected", "a", "1")
	ag.waitStoreMetric(t, "stockwire_agent_hub_connected", "site-b", "1")

	// A store added on SIGHUP enrols with its join token.
	var join struct {
		Token string `json:"token"`
	}
	h.MustAPI(http.MethodPost, "/api/v1/enrolment-tokens", map[string]any{}, &join)
	c.joinToken = join.Token
	writeStores(t, ag.config, a, b, c)
	ag.hup(t)
	h.WaitConnected("site-c", true)
	waitShows(t, sku, 5, c)
	credential, err := os.ReadFile(filepath.Join(ag.dataDir, "site-c", "credential"))
	if err != nil || len(strings.TrimSpace(string(credential))) == 0 {
		t.Fatalf("site-c's credential not saved under its data dir: %v", err)
	}
	c.checkout(t, sku, 1)
	waitCommitted(t, h, sku, 6)
	waitShows(t, sku, 4, a, b, c)

	// A file that does not load is refused, naming the line; the stores
	// run on as they were.
	if err := os.WriteFile(ag.config, []byte("stores:\n  - name: a\n    colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ag.hup(t)
	systest.WaitFor(t, 30*time.Second, "the bad file refused", func() error {
		if out := systest.Output(t, ag.proc); !strings.Contains(out, `msg="stores not reloaded"`) || !strings.Contains(out, "line 3: field colour not found") {
			return fmt.Errorf("no 'stores not reloaded' line naming line 3")
		}
		return nil
	})
	ag.waitStoreMetric(t, "stockwire_agent_hub_connected", "a", "1")

	// A store removed from the file (no signal: the agent sees the file
	// change) stops; the others run on.
	writeStores(t, ag.config, b, c)
	h.WaitConnected("a", false)
	systest.WaitFor(t, 30*time.Second, "/healthz lists site-b and site-c", func() error {
		var got struct {
			Stores []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"stores"`
		}
		if err := getJSON("http://"+ag.listen+"/healthz", &got); err != nil {
			return err
		}
		var names []string
		for _, s := range got.Stores {
			names = append(names, s.Name+"="+s.Status)
		}
		if want := []string{"site-b=running", "site-c=running"}; !slices.Equal(names, want) {
			return fmt.Errorf("stores %q, want %q", names, want)
		}
		return nil
	})
	ag.waitStoreMetric(t, "stockwire_agent_hub_connected", "a", "")
	b.checkout(t, sku, 1)
	waitCommitted(t, h, sku, 7)
	waitShows(t, sku, 3, b, c)
	resp, err := http.Post("http://"+ag.listen+"/webhooks/woocommerce/a", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("delivery for the removed store: %s, want 503", resp.Status)
	}

	secrets := map[string]string{"a's consumer secret": a.secret, "site-b's consumer secret": b.secret,
		"site-c's consumer secret": c.secret, "a's credential": a.token, "site-c's join token": join.Token,
		"site-c's credential": strings.TrimSpace(string(credential))}
	assertNoSecrets(t, stopAgent(t, ag.proc), secrets)
}

// TestAgent_MultiStoreIsolation shows one store's trouble staying its own:
// with one store slow and down, another answering 429 to everything, the
// other two still trade stock, and one whose keys are refused never holds
// them up. Then the agent is killed with an order in
// every store's outbox and the hub down: after a restart each order
// reaches the hub once.
func TestAgent_MultiStoreIsolation(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	shops := []*shop{newShop(t, "a"), newShop(t, "b"), newShop(t, "down"), newShop(t, "throttled")}
	a, b, down, throttled := shops[0], shops[1], shops[2], shops[3]
	sku := a.sim.Store.SKUs()[0]
	setOnHand(h, sku, 20)
	for _, s := range shops {
		s.register(h)
	}
	// One more store, whose keys its store refuses: it never starts, and
	// holds up no other.
	refused := newShop(t, "refused")
	refused.register(h)
	_, refused.secret = newKeys()
	ag := newMultiAgent(t, h)
	writeStores(t, ag.config, append(slices.Clip(shops), refused)...)
	ag.start(t)
	waitShows(t, sku, 20, shops...)
	systest.WaitFor(t, 30*time.Second, "/healthz shows refused starting, with the reason", func() error {
		var got struct {
			Stores []struct {
				Name, Status, Error string
			} `json:"stores"`
		}
		if err := getJSON("http://"+ag.listen+"/healthz", &got); err != nil {
			return err
		}
		for _, s := range got.Stores {
			if s.Name == "refused" && s.Status == "starting" && strings.Contains(s.Error, "consumer secret is wrong") {
				return nil
			}
		}
		return fmt.Errorf("stores %+v", got.Stores)
	})

	down.sim.Store.SetFaults(woosim.Faults{LatencyMS: 2000, ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
	throttled.sim.Store.SetFaults(woosim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests})
	a.checkout(t, sku, 2)
	waitCommitted(t, h, sku, 2)
	waitShows(t, sku, 18, a, b)
	b.checkout(t, sku, 1)
	waitCommitted(t, h, sku, 3)
	waitShows(t, sku, 17, a, b)
	down.sim.Store.SetFaults(woosim.Faults{})
	throttled.sim.Store.SetFaults(woosim.Faults{})
	waitShows(t, sku, 17, down, throttled)

	// Killed with an order in every store's outbox.
	h.Stop()
	for _, s := range shops {
		s.checkout(t, sku, 1)
	}
	for _, s := range shops {
		// At least once: a webhook and the poll may both report the order.
		systest.WaitFor(t, 60*time.Second, s.name+"'s order in its outbox", func() error {
			if n, err := ag.storeMetric("stockwire_agent_outbox_events", s.name); err != nil || n == "" || n == "0" {
				return fmt.Errorf("outbox events %q, %v", n, err)
			}
			return nil
		})
	}
	ag.proc.Kill()
	h.Start()
	ag.start(t)
	waitCommitted(t, h, sku, 7)
	for _, s := range shops {
		ag.waitStoreMetric(t, "stockwire_agent_outbox_events", s.name, "0")
	}
	waitShows(t, sku, 13, shops...)
	if got, err := hubSKU(h, sku); err != nil || got.Committed != 7 {
		t.Fatalf("hub committed %d (%v) once every outbox drained, want 7", got.Committed, err)
	}
	assertNoSecrets(t, systest.Output(t, ag.proc), map[string]string{"refused's consumer secret": refused.secret, "a's consumer secret": a.secret})
}
