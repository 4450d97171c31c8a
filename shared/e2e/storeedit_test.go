package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestMirror_RevertedEditReachesTheHub: under the default --store-edits
// revert, a hand edit is set back to the hub's figure, and the agent's
// status tells the hub, whose API (and console) then shows the store's
// drift.
func TestMirror_RevertedEditReachesTheHub(t *testing.T) {
	s := newSystemWith(t, systemOptions{stores: 1, skus: 1, onHand: 50})
	st := s.stores[0]
	sku := st.sim.Store.SKUs()[0]
	systest.WaitFor(t, 30*time.Second, "the store at the hub's figure", s.converged)
	// Some safety-net reads, so that the store has agreed with the
	// agent's first write: a difference right after a write of its own,
	// the agent takes for that write overtaken, not for a hand edit.
	const productReads = "GET /wp-json/wc/v3/products 200"
	seen := st.sim.Store.Stats().Requests[productReads]
	systest.WaitFor(t, 60*time.Second, "three more reads of the products", func() error {
		if n := st.sim.Store.Stats().Requests[productReads]; n < seen+3 {
			return fmt.Errorf("%d reads since", n-seen)
		}
		return nil
	})
	if err := st.sim.Store.AdminEdit(sku, 44); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 60*time.Second, "the edit set back and reported to the hub", func() error {
		if got, _ := st.sim.Store.StockBySKU(sku); got != 50 {
			return fmt.Errorf("store shows %d, want 50 again", got)
		}
		var got hubapi.Store
		if err := s.hub.API(http.MethodGet, fmt.Sprintf("/api/v1/stores/%d", st.id), nil, &got); err != nil {
			return err
		}
		if got.Agent.EditsReverted != 1 {
			return fmt.Errorf("hub shows %d edits set back, want 1", got.Agent.EditsReverted)
		}
		return nil
	})
}

// TestMirror_AcceptedEditReachesEveryStore: under --store-edits accept, a
// hand edit in one store's back office becomes the hub's truth: one
// store_edit ledger entry, and every other store shows it. The agent is
// killed with SIGKILL after accepting the edit and before the hub has
// counted it (the hub is down meanwhile, so the report waits in the
// outbox); its restart neither loses the edit nor counts it twice.
//
// (An edit the agent has not stored yet when it dies is found again after
// the restart, unless the hub sends that session a snapshot: its absolute
// write sets the store to the hub's figure.)
func TestMirror_AcceptedEditReachesEveryStore(t *testing.T) {
	s := newSystemWith(t, systemOptions{stores: 2, skus: 1, onHand: 50, agentArgs: []string{"--store-edits", "accept"}})
	sku := s.stores[0].sim.Store.SKUs()[0]
	systest.WaitFor(t, 30*time.Second, "every store at the hub's figure", s.converged)
	edited := s.stores[0]

	s.hub.Kill()
	if err := edited.sim.Store.AdminEdit(sku, 57); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 30*time.Second, "the agent accepts the edit and stores it in its outbox", func() error {
		if !strings.Contains(systest.Output(t, edited.agent.Proc), "stock manual edit accepted") {
			return errors.New("not accepted yet")
		}
		var h struct {
			OutboxEvents int `json:"outbox_events"`
		}
		resp, err := http.Get("http://" + edited.agent.Listen + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return err
		}
		if h.OutboxEvents != 1 {
			return fmt.Errorf("%d events in the outbox", h.OutboxEvents)
		}
		return nil
	})
	edited.agent.Kill()
	s.hub.Start()
	edited.agent.Start()

	systest.WaitFor(t, 30*time.Second, "the edit counted at the hub and shown by every store", func() error {
		hs, err := s.stock(sku)
		if err != nil {
			return err
		}
		if hs.OnHand != 57 {
			return fmt.Errorf("hub on hand %d, want 57", hs.OnHand)
		}
		return s.converged()
	})
	// Some safety-net rounds later (each reads the store at least once):
	// still one ledger entry, and every store still at 57.
	seen := sumOf(edited.sim.Store.Stats().Requests)
	systest.WaitFor(t, 30*time.Second, "ten more requests from the edited store's agent", func() error {
		if n := sumOf(edited.sim.Store.Stats().Requests); n < seen+10 {
			return fmt.Errorf("%d requests since", n-seen)
		}
		return nil
	})
	var ledger hubapi.LedgerList
	s.hub.MustAPI(http.MethodGet, "/api/v1/ledger?sku="+sku, nil, &ledger)
	edits := 0
	for _, e := range ledger.Entries {
		if e.Reason == "store_edit" {
			edits++
			if e.Location != "main" || e.Before != 50 || e.After != 57 || !strings.Contains(e.Reference, "store:") {
				t.Fatalf("store_edit entry %+v, want main 50 → 57 naming the store", e)
			}
		}
	}
	if edits != 1 {
		t.Fatalf("%d store_edit ledger entries, want 1: %+v", edits, ledger)
	}
	if err := s.converged(); err != nil {
		t.Fatal(err)
	}
	for _, st := range s.stores {
		if q, _ := st.sim.Store.StockBySKU(sku); q != 57 {
			t.Fatalf("%s shows %d, want 57", st.name, q)
		}
	}
}

func sumOf(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
