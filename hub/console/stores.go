package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// storeRow is one store on the stores page.
type storeRow struct {
	hub.Store
	Activity hub.StoreActivity
	// Behind says how far the store's agent lags: "up to date", or "N
	// changes behind, oldest 2m old".
	Behind string
	// Webhooks says how orders reach the hub: healthy webhooks, or
	// polling only.
	Webhooks string
	Policies []hub.Policy
}

func (c *Console) storesPage(r *http.Request, s session) (string, any, error) {
	stores, err := c.Stores.Stores(r.Context())
	if err != nil {
		return "", nil, err
	}
	activity, err := c.Queries.StoreActivity(r.Context())
	if err != nil {
		return "", nil, err
	}
	now := c.Now()
	rows := make([]storeRow, 0, len(stores))
	for _, st := range stores {
		if st.Status != hub.StoreActive {
			continue
		}
		a := activity[st.ID]
		rows = append(rows, storeRow{Store: st, Activity: a, Behind: behind(st.Agent.SeqLag, a.OldestUnapplied, now),
			Webhooks: webhookHealth(st.Agent.WebhookHealth), Policies: []hub.Policy{hub.PolicyMirror, hub.PolicyAllocate}})
	}
	return "stores", rows, nil
}

// behind puts an agent's lag in words, with the age of the oldest change
// it has not applied.
func behind(lag int64, oldest *time.Time, now time.Time) string {
	if lag <= 0 {
		return "up to date"
	}
	noun := "changes"
	if lag == 1 {
		noun = "change"
	}
	s := strconv.FormatInt(lag, 10) + " " + noun + " behind"
	if oldest != nil {
		s += ", oldest " + age(now.Sub(*oldest)) + " old"
	}
	return s
}

func webhookHealth(h hub.WebhookHealth) string {
	switch h {
	case hub.WebhookHealthOK:
		return "healthy"
	case hub.WebhookHealthFailing:
		return "failing: polling only"
	case hub.WebhookHealthOff:
		return "polling only (webhooks off)"
	}
	return "not known yet"
}

// updateStore sets a store's policy and buffer through the allocation
// service, as PATCH /api/v1/stores/{id} does, keeping its other settings.
func (c *Console) updateStore(w http.ResponseWriter, r *http.Request, s session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	buffer, err := formInt(r, "buffer")
	if err != nil {
		return err
	}
	if buffer < 0 {
		return hub.FieldErrorf("buffer", hub.EINVALID, "The buffer must not be negative.")
	}
	policy := hub.Policy(r.PostFormValue("policy"))
	if !policy.Valid() {
		return hub.FieldErrorf("policy", hub.EINVALID, "The policy must be %q or %q.", hub.PolicyMirror, hub.PolicyAllocate)
	}
	cur, err := c.Stores.Store(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := c.Allocation.Configure(r.Context(), id, hub.StoreSettings{Policy: policy, Buffer: buffer,
		Allocation: cur.Allocation, EditLocation: cur.EditLocation}); err != nil {
		return err
	}
	c.Logger.Info("console store update", "store_id", id, "policy", policy, "buffer", buffer)
	c.Notify()
	http.Redirect(w, r, "/stores", http.StatusSeeOther)
	return nil
}
