package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

var (
	_ hub.WebhookService = (*WebhookService)(nil)
	_ hub.WebhookQueue   = (*WebhookService)(nil)
)

// WebhookService implements hub.WebhookService (subscriptions, dead
// deliveries and their replay) and hub.WebhookQueue (what hub/webhooks'
// workers claim and finish). The events and deliveries themselves are
// written by the transactions that cause them (writeOrderWebhooks), so an
// event exists exactly when its change committed.
type WebhookService struct {
	db *DB
}

// NewWebhookService returns the webhook service on db.
func NewWebhookService(db *DB) *WebhookService { return &WebhookService{db: db} }

type webhookRow struct {
	ID             int64          `db:"id"`
	URL            string         `db:"url"`
	Events         pq.StringArray `db:"events"`
	Description    string         `db:"description"`
	Enabled        bool           `db:"enabled"`
	DisabledReason string         `db:"disabled_reason"`
	FailingSince   *time.Time     `db:"failing_since"`
	CreatedAt      time.Time      `db:"created_at"`
	UpdatedAt      time.Time      `db:"updated_at"`
}

// webhookCols never include the secret.
const webhookCols = `id, url, events, description, enabled, disabled_reason, failing_since, created_at, updated_at`

func (r webhookRow) webhook() hub.Webhook {
	return hub.Webhook{
		ID: r.ID, URL: r.URL, Events: []string(r.Events), Description: r.Description, Enabled: r.Enabled,
		DisabledReason: r.DisabledReason, FailingSince: r.FailingSince, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// CreateWebhook adds a subscription with a new secret (see hub.WebhookService).
func (s *WebhookService) CreateWebhook(ctx context.Context, w hub.NewWebhook) (hub.Webhook, string, error) {
	if err := w.Validate(); err != nil {
		return hub.Webhook{}, "", err
	}
	secret := hub.NewWebhookSecret()
	var r webhookRow
	err := s.db.tx(ctx, "create_webhook", nil, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &r, `INSERT INTO webhook_subscriptions (url, events, description, enabled, secret)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+webhookCols, w.URL, pq.Array(w.Events), w.Description, w.Enabled, secret)
	})
	if err != nil {
		return hub.Webhook{}, "", fmt.Errorf("create webhook: %w", translate(err))
	}
	return r.webhook(), secret, nil
}

// Webhooks lists every subscription by id.
func (s *WebhookService) Webhooks(ctx context.Context) ([]hub.Webhook, error) {
	var rows []webhookRow
	if err := s.db.db.SelectContext(ctx, &rows, `SELECT `+webhookCols+` FROM webhook_subscriptions ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", translate(err))
	}
	out := make([]hub.Webhook, len(rows))
	for i, r := range rows {
		out[i] = r.webhook()
	}
	return out, nil
}

// Webhook returns one subscription. Returns ENOTFOUND.
func (s *WebhookService) Webhook(ctx context.Context, id int64) (hub.Webhook, error) {
	var r webhookRow
	if err := s.db.db.GetContext(ctx, &r, `SELECT `+webhookCols+` FROM webhook_subscriptions WHERE id = $1`, id); err != nil {
		return hub.Webhook{}, fmt.Errorf("get webhook %d: %w", id, webhookNotFound(id, err))
	}
	return r.webhook(), nil
}

// UpdateWebhook changes a subscription (see hub.WebhookService).
func (s *WebhookService) UpdateWebhook(ctx context.Context, id int64, u hub.WebhookUpdate) (hub.Webhook, error) {
	if err := u.Validate(); err != nil {
		return hub.Webhook{}, err
	}
	var events any
	if u.Events != nil {
		events = pq.Array(u.Events)
	}
	var r webhookRow
	err := s.db.tx(ctx, "update_webhook", nil, func(tx *sqlx.Tx) error {
		// Enabling clears the failure record, so that the 24-hour count
		// starts again.
		return tx.GetContext(ctx, &r, `UPDATE webhook_subscriptions SET
				url = COALESCE($2, url), events = COALESCE($3::text[], events),
				description = COALESCE($4, description), enabled = COALESCE($5, enabled),
				disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason ELSE '' END,
				failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
				updated_at = now()
			WHERE id = $1 RETURNING `+webhookCols, id, u.URL, events, u.Description, u.Enabled)
	})
	if err != nil {
		return hub.Webhook{}, fmt.Errorf("update webhook %d: %w", id, webhookNotFound(id, err))
	}
	return r.webhook(), nil
}

// DeleteWebhook removes a subscription and its deliveries. Returns
// ENOTFOUND.
func (s *WebhookService) DeleteWebhook(ctx context.Context, id int64) error {
	err := s.db.tx(ctx, "delete_webhook", nil, func(tx *sqlx.Tx) error {
		// Its deliveries first; no foreign key cascades (migration 015).
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE subscription_id = $1`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENOTFOUND, "Webhook %d not found.", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %d: %w", id, translate(err))
	}
	return nil
}

func webhookNotFound(id int64, err error) error {
	if isNoRows(err) {
		return hub.Errorf(hub.ENOTFOUND, "Webhook %d not found.", id)
	}
	return translate(err)
}

type deliveryRow struct {
	ID             int64           `db:"id"`
	SubscriptionID int64           `db:"subscription_id"`
	State          string          `db:"state"`
	Attempts       int             `db:"attempts"`
	NextAttemptAt  time.Time       `db:"next_attempt_at"`
	LastStatus     int             `db:"last_status"`
	LastError      string          `db:"last_error"`
	CreatedAt      time.Time       `db:"created_at"`
	DeliveredAt    *time.Time      `db:"delivered_at"`
	EventID        int64           `db:"event_id"`
	EventType      string          `db:"event_type"`
	EventData      json.RawMessage `db:"event_data"`
	EventCreatedAt time.Time       `db:"event_created_at"`
	// URL and Secret are read by ClaimDeliveries only.
	URL    string `db:"url"`
	Secret string `db:"secret"`
}

const deliveryCols = `d.id, d.subscription_id, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error,
	d.created_at, d.delivered_at, e.id AS event_id, e.type AS event_type, e.data AS event_data, e.created_at AS event_created_at`

func (r deliveryRow) delivery() hub.WebhookDelivery {
	return hub.WebhookDelivery{
		ID: r.ID, MessageID: MessageID(r.ID), SubscriptionID: r.SubscriptionID, State: r.State, Attempts: r.Attempts,
		NextAttemptAt: r.NextAttemptAt, LastStatus: r.LastStatus, LastError: r.LastError, CreatedAt: r.CreatedAt,
		DeliveredAt: r.DeliveredAt,
		Event:       hub.WebhookEvent{ID: r.EventID, Type: r.EventType, CreatedAt: r.EventCreatedAt, Data: r.EventData},
	}
}

// MessageID is the webhook-id of delivery id: fixed for the delivery's
// life, whoever sends it and however often.
func MessageID(id int64) string { return "msg_" + strconv.FormatInt(id, 10) }

// Deliveries pages deliveries by id (see hub.WebhookService).
func (s *WebhookService) Deliveries(ctx context.Context, f hub.DeliveryFilter, p hub.Page) ([]hub.WebhookDelivery, error) {
	switch f.State {
	case "", hub.DeliveryPending, hub.DeliveryDelivered, hub.DeliveryDead:
	default:
		return nil, hub.FieldErrorf("state", hub.EINVALID, "state must be pending, delivered or dead.")
	}
	var after int64
	if p.After != "" {
		var err error
		if after, err = strconv.ParseInt(p.After, 10, 64); err != nil || after < 0 {
			return nil, hub.FieldErrorf("after", hub.EINVALID, "after must be a cursor from a previous page.")
		}
	}
	var rows []deliveryRow
	if err := s.db.db.SelectContext(ctx, &rows, `SELECT `+deliveryCols+`
		FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
		WHERE d.id > $1 AND ($2 = '' OR d.state = $2) AND ($3 = 0 OR d.subscription_id = $3)
		ORDER BY d.id LIMIT $4`, after, f.State, f.SubscriptionID, p.Limit); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(err))
	}
	out := make([]hub.WebhookDelivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// ReplayDelivery makes a dead delivery pending again (see
// hub.WebhookService).
func (s *WebhookService) ReplayDelivery(ctx context.Context, id int64) (hub.WebhookDelivery, error) {
	var r deliveryRow
	err := s.db.tx(ctx, "replay_delivery", nil, func(tx *sqlx.Tx) error {
		var state string
		if err := tx.GetContext(ctx, &state, `SELECT state FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, id); isNoRows(err) {
			return hub.Errorf(hub.ENOTFOUND, "Delivery %d not found.", id)
		} else if err != nil {
			return err
		}
		if state != hub.DeliveryDead {
			return hub.Errorf(hub.ECONFLICT, "Delivery %d is %s; only dead deliveries are replayed.", id, state)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),
			last_status = 0, last_error = '' WHERE id = $1`, id); err != nil {
			return err
		}
		return tx.GetContext(ctx, &r, `SELECT `+deliveryCols+` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1`, id)
	})
	if err != nil {
		return hub.WebhookDelivery{}, fmt.Errorf("replay delivery %d: %w", id, translate(err))
	}
	return r.delivery(), nil
}

// ReplayDead replays every dead delivery, of one subscription when
// subscriptionID is not 0.
func (s *WebhookService) ReplayDead(ctx context.Context, subscriptionID int64) (int, error) {
	var n int64
	err := s.db.tx(ctx, "replay_dead", nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),
			last_status = 0, last_error = '' WHERE state = 'dead' AND ($1 = 0 OR subscription_id = $1)`, subscriptionID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("replay dead deliveries: %w", translate(err))
	}
	return int(n), nil
}

// claimSettings are the claim's and the outcome's transaction settings.
//
// The claim must walk the due index in order and stop at n: the table's
// statistics often lag its churn (it looks nearly empty), and the planner
// then reads every due delivery with a bitmap scan and sorts them, a cost
// that grows with the backlog (10 ms for 100 of 3,000). Without bitmap
// scans the ordered index scan is the only plan.
//
// Neither waits for its commit to reach the disk: a claim lost in a crash
// only makes the delivery due again, an outcome lost sends it once more,
// which at-least-once delivery (one webhook-id) allows anyway.
const claimSettings = `SET LOCAL enable_bitmapscan = off; SET LOCAL synchronous_commit = off`

// ClaimDeliveries leases up to n due deliveries (see hub.WebhookQueue).
//
// FOR UPDATE SKIP LOCKED lets workers in every replica claim at once
// without waiting on each other or taking the same row twice: a worker
// skips rows another is claiming, and once that claim commits the row's
// next_attempt_at (the lease) lies in the future, which the rechecked WHERE
// clause excludes. A delivery whose predecessor (same subscription and
// order, lower id) is still pending is not due, whether that predecessor
// is waiting for a retry or leased by another worker, so deliveries of one
// order reach each endpoint in order.
//
// The senders poll (every 50–100 ms by default), and most polls find
// nothing: one statement asks first whether any delivery of an enabled
// subscription is due, and the claim's transaction (four round trips)
// runs only if one is.
func (s *WebhookService) ClaimDeliveries(ctx context.Context, n int, lease time.Duration) ([]hub.WebhookAttempt, error) {
	if due, err := s.anyDue(ctx); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	} else if !due {
		return nil, nil
	}
	var rows []deliveryRow
	err := s.db.tx(ctx, "claim_deliveries", nil, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, claimSettings); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &rows, `WITH c AS (
				SELECT d.id FROM webhook_deliveries d
				WHERE d.state = 'pending' AND d.next_attempt_at <= now()
					AND d.subscription_id = ANY (ARRAY(SELECT id FROM webhook_subscriptions WHERE enabled))
					AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.subscription_id = d.subscription_id
						AND p.order_key = d.order_key AND p.state = 'pending' AND p.id < d.id)
				ORDER BY d.next_attempt_at LIMIT $1
				FOR UPDATE OF d SKIP LOCKED)
			UPDATE webhook_deliveries d SET next_attempt_at = now() + $2 * interval '1 microsecond', attempts = d.attempts + 1
			FROM c, webhook_events e, webhook_subscriptions s
			WHERE d.id = c.id AND e.id = d.event_id AND s.id = d.subscription_id
			RETURNING `+deliveryCols+`, s.url, s.secret`, n, lease.Microseconds())
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", translate(err))
	}
	out := make([]hub.WebhookAttempt, len(rows))
	for i, r := range rows {
		out[i] = hub.WebhookAttempt{Delivery: r.delivery(), URL: r.URL, Secret: r.Secret}
	}
	return out, nil
}

// anyDue reports whether a delivery of an enabled subscription is due
// (its predecessors aside: the claim checks those).
func (s *WebhookService) anyDue(ctx context.Context) (bool, error) {
	defer s.db.observe("deliveries_due", time.Now())
	var due bool
	err := s.db.db.GetContext(ctx, &due, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		WHERE state = 'pending' AND next_attempt_at <= now()
			AND subscription_id = ANY (ARRAY(SELECT id FROM webhook_subscriptions WHERE enabled)))`)
	return due, translate(err)
}

// FinishDeliveries records outcomes and disables subscriptions failing
// for longer than disableAfter (see hub.WebhookQueue). An outcome for a
// delivery no longer pending (its lease ran out and another worker
// delivered it) changes nothing.
func (s *WebhookService) FinishDeliveries(ctx context.Context, results []hub.WebhookResult, disableAfter time.Duration) ([]int64, error) {
	if len(results) == 0 {
		return nil, nil
	}
	n := len(results)
	ids, states, next := make([]int64, n), make([]string, n), make([]string, n)
	status, errs := make([]int64, n), make([]string, n)
	for i, r := range results {
		ids[i], states[i], status[i], errs[i] = r.DeliveryID, r.State, int64(r.Status), r.Error
		next[i] = r.NextAttempt.UTC().Format(time.RFC3339Nano)
		if r.NextAttempt.IsZero() {
			next[i] = "-infinity"
		}
	}
	var disabled []int64
	err := s.db.tx(ctx, "finish_deliveries", nil, func(tx *sqlx.Tx) error {
		disabled = disabled[:0]
		if _, err := tx.ExecContext(ctx, claimSettings); err != nil {
			return err
		}
		var subs []struct {
			ID int64 `db:"subscription_id"`
			OK bool  `db:"ok"`
		}
		if err := tx.SelectContext(ctx, &subs, `WITH v AS (
				SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::integer[], $5::text[]) AS v(id, state, next, status, error)),
			u AS (UPDATE webhook_deliveries d SET state = v.state,
					next_attempt_at = CASE WHEN v.state = 'pending' THEN v.next ELSE d.next_attempt_at END,
					last_status = v.status, last_error = v.error,
					delivered_at = CASE WHEN v.state = 'delivered' THEN now() END
				FROM v WHERE d.id = v.id AND d.state = 'pending'
				RETURNING d.subscription_id, v.state = 'delivered' AS ok),
			-- A retried delivery's successors (same subscription and order)
			-- cannot go before it: they wait as long, so that the claims'
			-- walk of the due index does not meet them at every turn.
			later AS (UPDATE webhook_deliveries l SET next_attempt_at = v.next
				FROM v JOIN webhook_deliveries d ON d.id = v.id
				WHERE v.state = 'pending' AND l.subscription_id = d.subscription_id AND l.order_key = d.order_key
					AND l.state = 'pending' AND l.id > d.id AND l.next_attempt_at < v.next),
			subs AS (SELECT subscription_id, bool_or(ok) AS ok FROM u GROUP BY subscription_id),
			-- a success ends a subscription's run of failures
			cleared AS (UPDATE webhook_subscriptions w SET failing_since = NULL FROM subs
				WHERE w.id = subs.subscription_id AND subs.ok AND w.failing_since IS NOT NULL)
			SELECT subscription_id, ok FROM subs ORDER BY subscription_id`,
			pq.Array(ids), pq.Array(states), pq.Array(next), pq.Array(status), pq.Array(errs)); err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
		var failed []int64
		for _, s := range subs {
			if !s.OK {
				failed = append(failed, s.ID)
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_subscriptions SET failing_since = now()
			WHERE id = ANY($1) AND failing_since IS NULL`, pq.Array(failed)); err != nil {
			return fmt.Errorf("record failures: %w", err)
		}
		if err := tx.SelectContext(ctx, &disabled, `UPDATE webhook_subscriptions SET enabled = false, updated_at = now(),
				disabled_reason = 'failing since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
			WHERE id = ANY($1) AND enabled AND failing_since <= now() - $2 * interval '1 microsecond'
			RETURNING id`, pq.Array(failed), disableAfter.Microseconds()); err != nil {
			return fmt.Errorf("disable failing webhooks: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finish deliveries: %w", translate(err))
	}
	return disabled, nil
}

// QueueStats counts the queue.
func (s *WebhookService) QueueStats(ctx context.Context) (hub.WebhookQueueStats, error) {
	var r struct {
		Pending  int64   `db:"pending"`
		Dead     int64   `db:"dead"`
		Oldest   float64 `db:"oldest"`
		Disabled int64   `db:"disabled"`
	}
	if err := s.db.db.GetContext(ctx, &r, `SELECT
			(SELECT count(*) FROM webhook_deliveries WHERE state = 'pending') AS pending,
			(SELECT count(*) FROM webhook_deliveries WHERE state = 'dead') AS dead,
			COALESCE((SELECT extract(epoch FROM now() - min(created_at)) FROM webhook_deliveries WHERE state = 'pending'), 0)::float8 AS oldest,
			(SELECT count(*) FROM webhook_subscriptions WHERE NOT enabled AND disabled_reason <> '') AS disabled`); err != nil {
		return hub.WebhookQueueStats{}, fmt.Errorf("webhook queue stats: %w", translate(err))
	}
	return hub.WebhookQueueStats{
		Pending: r.Pending, Dead: r.Dead, Disabled: r.Disabled,
		OldestPendingAge: time.Duration(r.Oldest * float64(time.Second)),
	}, nil
}

// WebhookChannel is the LISTEN/NOTIFY channel on which every commit that
// queued webhook deliveries is announced (a trigger of migration 008).
const WebhookChannel = "stockwire_webhooks"

// Listen calls wake whenever deliveries were queued, in any replica, and
// after a reconnection (notifications may have been lost), until ctx is
// done; it then returns nil.
func (s *WebhookService) Listen(ctx context.Context, wake func()) error {
	return s.db.listen(ctx, WebhookChannel, func(*string) { wake() })
}

// orderEvent names the webhook event a report makes of its order: created
// for a new order, cancelled when it becomes cancelled, updated otherwise.
func orderEvent(isNew bool, oldStatus, newStatus string) string {
	switch {
	case isNew:
		return hub.EventOrderCreated
	case newStatus == "cancelled" && oldStatus != "cancelled":
		return hub.EventOrderCancelled
	}
	return hub.EventOrderUpdated
}

// writeOrderWebhooks adds to b the webhook events of the applied reports
// and a delivery of each to every enabled subscription wanting it, in the
// order transaction itself (the outbox). An event no subscription wants is
// not written. Each snapshot's UpdatedAt is the transaction's now(), as the
// order row's.
func writeOrderWebhooks(b *stmt, batch []*reportReq, plans []*orderPlan, applied []int) {
	if len(applied) == 0 {
		return
	}
	types, keys, data := make([]string, len(applied)), make([]string, len(applied)), make([]string, len(applied))
	for j, i := range applied {
		p := plans[i]
		o := p.o.order(p.lines)
		// The whole order as the report brought it, as GET /api/v1/orders
		// shows it (a report without the order's JSON leaves it out).
		if doc := batch[i].doc; len(doc) > 0 {
			var d hub.OrderDocument
			if json.Unmarshal(doc, &d) == nil { // it was encoded from one
				o.Document = &d
			}
		}
		// As the orders row keeps it: PostgreSQL rounds to microseconds.
		o.ModifiedAt = o.ModifiedAt.Round(time.Microsecond)
		js, err := json.Marshal(o)
		if err != nil {
			panic("postgres: encode order snapshot: " + err.Error()) // plain structs always encode
		}
		types[j], keys[j], data[j] = p.event, "order:"+strconv.FormatInt(p.o.ID, 10), string(js)
	}
	b.with("wh_events", `INSERT INTO webhook_events (type, order_key, data)
		SELECT v.type, v.key, jsonb_set(v.data::jsonb, '{UpdatedAt}', to_jsonb(now()))
		FROM unnest(`+b.arg(pq.Array(types))+`::text[], `+b.arg(pq.Array(keys))+`::text[], `+b.arg(pq.Array(data))+`::text[]) WITH ORDINALITY AS v(type, key, data, ord)
		WHERE EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.enabled AND v.type = ANY(s.events))
		ORDER BY v.ord
		RETURNING id, type, order_key`)
	b.with("wh_deliveries", `INSERT INTO webhook_deliveries (event_id, subscription_id, order_key)
		SELECT e.id, s.id, e.order_key FROM wh_events e JOIN webhook_subscriptions s ON s.enabled AND e.type = ANY(s.events)
		ORDER BY e.id, s.id`)
}

// writeStockWebhooks adds to b the record of the changed SKUs' available
// figures for stock.changed (see QueueStockChanges), while an enabled
// subscription wants it, and the stock.low events of those that fell below
// their reorder point. The SKU rows are locked by the transaction, so
// their records are written in SKU order without contention.
func writeStockWebhooks(b *stmt, skus []string, onHand, committed, safety []int64) {
	avail := make([]int64, len(skus))
	for i := range skus {
		avail[i] = onHand[i] - committed[i] - safety[i]
	}
	b.with("wh_stock", `INSERT INTO webhook_stock_changes (sku, available)
		SELECT v.sku, v.available FROM unnest(`+b.arg(pq.Array(skus))+`::text[], `+b.arg(pq.Array(avail))+`::bigint[]) AS v(sku, available)
		WHERE EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.enabled AND 'stock.changed' = ANY(s.events))
		ORDER BY v.sku
		ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, changed_at = now()
			WHERE webhook_stock_changes.available <> EXCLUDED.available`)
	// stock.low when available falls below the reorder point: skus, read
	// in this statement, still holds the figures from before it.
	b.with("wh_low", `INSERT INTO webhook_events (type, order_key, data)
		SELECT 'stock.low', 'sku:' || v.sku, jsonb_build_object('SKU', v.sku, 'Available', v.available, 'ReorderPoint', s.reorder_point)
		FROM unnest(`+b.arg(pq.Array(skus))+`::text[], `+b.arg(pq.Array(avail))+`::bigint[]) AS v(sku, available)
			JOIN skus s ON s.sku = v.sku
		WHERE s.reorder_point IS NOT NULL AND v.available < s.reorder_point
			AND s.on_hand - s.committed - s.safety_stock >= s.reorder_point
			AND EXISTS (SELECT 1 FROM webhook_subscriptions w WHERE w.enabled AND 'stock.low' = ANY(w.events))
		ORDER BY v.sku
		RETURNING id, order_key`)
	b.with("wh_low_deliveries", `INSERT INTO webhook_deliveries (event_id, subscription_id, order_key)
		SELECT e.id, s.id, e.order_key FROM wh_low e JOIN webhook_subscriptions s ON s.enabled AND 'stock.low' = ANY(s.events)
		ORDER BY e.id, s.id`)
}

// SetReorderPoint sets a SKU's reorder point (see hub.WebhookService).
func (s *WebhookService) SetReorderPoint(ctx context.Context, sku string, point *int64) error {
	if point != nil && *point < 0 {
		return hub.FieldErrorf("reorder_point", hub.EINVALID, "reorder_point must be 0 or more, or null for none.")
	}
	err := s.db.tx(ctx, "set_reorder_point", nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE skus SET reorder_point = $2 WHERE sku = $1`, sku, point)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.FieldErrorf("sku", hub.ENOTFOUND, "Unknown SKU %q.", sku)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set reorder point of %s: %w", sku, translate(err))
	}
	return nil
}

// QueueStockChanges queues one stock.changed event per SKU whose available
// differs from its last event's and whose last event is older than
// interval (see hub.WebhookQueue). Replicas running it at once each take
// other SKUs (SKIP LOCKED).
func (s *WebhookService) QueueStockChanges(ctx context.Context, interval time.Duration) (int, error) {
	var n int
	err := s.db.tx(ctx, "queue_stock_changes", nil, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &n, `WITH c AS (
				SELECT sku, sent_available AS previous FROM webhook_stock_changes
				WHERE sent_available IS DISTINCT FROM available AND (sent_at IS NULL OR sent_at <= now() - $1 * interval '1 microsecond')
				ORDER BY sku LIMIT 1000 FOR UPDATE SKIP LOCKED),
			u AS (UPDATE webhook_stock_changes w SET sent_available = w.available, sent_at = now()
				FROM c WHERE w.sku = c.sku
				RETURNING w.sku, w.available, c.previous),
			ev AS (INSERT INTO webhook_events (type, order_key, data)
				SELECT 'stock.changed', 'sku:' || u.sku, jsonb_build_object('SKU', u.sku, 'Available', u.available, 'PreviousAvailable', u.previous)
				FROM u WHERE EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.enabled AND 'stock.changed' = ANY(s.events))
				ORDER BY u.sku
				RETURNING id, order_key),
			d AS (INSERT INTO webhook_deliveries (event_id, subscription_id, order_key)
				SELECT ev.id, s.id, ev.order_key FROM ev JOIN webhook_subscriptions s ON s.enabled AND 'stock.changed' = ANY(s.events)
				ORDER BY ev.id, s.id)
			SELECT count(*) FROM ev`, interval.Microseconds())
	})
	if err != nil {
		return 0, fmt.Errorf("queue stock changes: %w", translate(err))
	}
	return n, nil
}

// QueueAgentDown queues a store.agent_down event per active store whose
// agent has been disconnected for longer than after, once per outage (see
// hub.WebhookQueue). The upsert on webhook_agent_down decides which
// replica queues it: only the one whose statement flips down returns the
// store.
func (s *WebhookService) QueueAgentDown(ctx context.Context, after time.Duration) (int, error) {
	var n int
	err := s.db.tx(ctx, "queue_agent_down", nil, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_agent_down a SET down = false FROM stores s
			WHERE s.id = a.store_id AND a.down AND s.connected`); err != nil {
			return fmt.Errorf("reset recovered stores: %w", err)
		}
		return tx.GetContext(ctx, &n, `WITH gone AS (
				SELECT id FROM stores
				WHERE status = 'active' AND NOT connected AND COALESCE(last_seen, created_at) <= now() - $1 * interval '1 microsecond'
				ORDER BY id),
			flipped AS (INSERT INTO webhook_agent_down (store_id, down) SELECT id, true FROM gone
				ON CONFLICT (store_id) DO UPDATE SET down = true WHERE NOT webhook_agent_down.down
				RETURNING store_id),
			ev AS (INSERT INTO webhook_events (type, order_key, data)
				SELECT 'store.agent_down', 'store:' || s.id, jsonb_build_object('StoreID', s.id, 'StoreName', s.name, 'LastSeen', s.last_seen)
				FROM flipped f JOIN stores s ON s.id = f.store_id
				WHERE EXISTS (SELECT 1 FROM webhook_subscriptions w WHERE w.enabled AND 'store.agent_down' = ANY(w.events))
				ORDER BY s.id
				RETURNING id, order_key),
			d AS (INSERT INTO webhook_deliveries (event_id, subscription_id, order_key)
				SELECT ev.id, w.id, ev.order_key FROM ev JOIN webhook_subscriptions w ON w.enabled AND 'store.agent_down' = ANY(w.events)
				ORDER BY ev.id, w.id)
			SELECT count(*) FROM ev`, after.Microseconds())
	})
	if err != nil {
		return 0, fmt.Errorf("queue agent down: %w", translate(err))
	}
	return n, nil
}

// pruneBatch bounds one prune statement, so that it holds its locks
// briefly however large the backlog.
const pruneBatch = 5000

// PruneDelivered deletes, in batches, the deliveries delivered longer ago
// than keep, then the events older than keep that no delivery refers to.
func (s *WebhookService) PruneDelivered(ctx context.Context, keep time.Duration) (int64, error) {
	defer s.db.observe("webhook_prune", time.Now())
	var total int64
	for {
		res, err := s.db.db.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < now() - $1 * interval '1 millisecond'
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, keep.Milliseconds(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune webhook deliveries: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			break
		}
	}
	for {
		res, err := s.db.db.ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (
			SELECT e.id FROM webhook_events e WHERE e.created_at < now() - $1 * interval '1 millisecond'
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, keep.Milliseconds(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune webhook events: %w", err)
		}
		if n, _ := res.RowsAffected(); n < pruneBatch {
			return total, nil
		}
	}
}
