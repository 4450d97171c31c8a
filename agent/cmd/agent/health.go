package main

import "github.com/stockwire/stockwire/shared/wire"

// health is the answer of /healthz. The agent answers 200 while it runs;
// the figures say what needs a human. The top-level figures add up the
// stores'; Stores has each.
type health struct {
	Status       string `json:"status"`
	OutboxEvents int    `json:"outbox_events"`
	// DeadLetters counts the order reports the hub refused, parked in the
	// outbox (`agent dead-letters list|replay`).
	DeadLetters int `json:"dead_letters"`
	// Webhooks is what the agent knows of the store's webhooks: unknown,
	// ok, failing or off (wire.WebhookHealth…); with several stores, the
	// worst of theirs.
	Webhooks string `json:"webhooks"`
	// WebhookMode, WebhookLagP50 and WebhookAdvice are the store's
	// (storeHealth) when the agent serves one; with several, each store
	// has its own.
	WebhookMode   string        `json:"webhook_mode,omitempty"`
	WebhookLagP50 float64       `json:"webhook_lag_p50_seconds,omitempty"`
	WebhookAdvice string        `json:"webhook_advice,omitempty"`
	Stores        []storeHealth `json:"stores"`
}

// storeHealth is one store's part of /healthz.
type storeHealth struct {
	Name string `json:"name"`
	// Status is running, or starting while the store cannot be served
	// (Error says why) and is tried again.
	Status       string `json:"status"`
	OutboxEvents int    `json:"outbox_events"`
	DeadLetters  int    `json:"dead_letters"`
	Webhooks     string `json:"webhooks,omitempty"`
	// WebhookMode is how the store delivers webhooks, judged from their
	// lag: sync (the must-use plugin), async (WooCommerce's default
	// queue), polling (none arrive) or unknown (too few measured yet).
	WebhookMode string `json:"webhook_mode,omitempty"`
	// WebhookLagP50 is the median lag of the recent order deliveries in
	// seconds, 0 while none was measured.
	WebhookLagP50 float64 `json:"webhook_lag_p50_seconds"`
	// WebhookAdvice says what to do about the mode, when anything.
	WebhookAdvice string `json:"webhook_advice,omitempty"`
	Error         string `json:"error,omitempty"`
}

// webhookRank orders webhook health from best to worst.
var webhookRank = map[string]int{wire.WebhookHealthOK: 0, wire.WebhookHealthOff: 1, wire.WebhookHealthUnknown: 2,
	wire.WebhookHealthFailing: 3}

// newHealth sums up the stores' health.
func newHealth(stores []storeHealth) health {
	h := health{Status: "ok", Stores: stores}
	if len(stores) == 1 {
		h.WebhookMode, h.WebhookLagP50, h.WebhookAdvice = stores[0].WebhookMode, stores[0].WebhookLagP50, stores[0].WebhookAdvice
	}
	for _, s := range stores {
		h.OutboxEvents += s.OutboxEvents
		h.DeadLetters += s.DeadLetters
		if s.Webhooks != "" && (h.Webhooks == "" || webhookRank[s.Webhooks] > webhookRank[h.Webhooks]) {
			h.Webhooks = s.Webhooks
		}
	}
	return h
}
