// REST handlers of /orders, /orders/{id}/refunds and /orders/{id}/notes.

package woosim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

func invalidOrderID(status int) *apiErr {
	return newErr(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
}

func (s *Store) handleOrderList(w http.ResponseWriter, q *request) *apiErr {
	qv := q.r.URL.Query()
	pp, e := parsePage(qv, "date")
	if e != nil {
		return e
	}
	after, e := parseDateParam(qv, "modified_after")
	if e != nil {
		return e
	}
	before, e := parseDateParam(qv, "modified_before")
	if e != nil {
		return e
	}
	cAfter, e := parseDateParam(qv, "after")
	if e != nil {
		return e
	}
	statuses := map[string]bool{}
	for _, raw := range append(qv["status"], qv["status[]"]...) {
		for st := range strings.SplitSeq(raw, ",") {
			if st == "" {
				continue
			}
			if st != "any" && !orderStatuses[st] && st != "auto-draft" {
				return invalidParam("status", "status[0] is not one of any, trash, auto-draft, pending, processing, on-hold, completed, cancelled, refunded, failed, and checkout-draft.")
			}
			statuses[st] = true
		}
	}
	if len(statuses) == 0 || statuses["any"] {
		statuses = nil
	}
	include := parseIDs(qv.Get("include"))
	s.mu.Lock()
	var items []listItem
	for _, id := range s.orderIDs {
		o := s.orders[id]
		if o == nil {
			continue
		}
		if statuses == nil && (o.Status == "trash" || o.Status == "checkout-draft") || statuses != nil && !statuses[o.Status] {
			continue
		}
		if len(include) > 0 && !containsID(include, o.ID) {
			continue
		}
		mod := o.Modified.Truncate(time.Second)
		if after != nil && !mod.After(*after) || before != nil && !mod.Before(*before) {
			continue
		}
		if cAfter != nil && !o.Created.Truncate(time.Second).After(*cAfter) {
			continue
		}
		items = append(items, listItem{id: o.ID, created: o.Created, modified: o.Modified})
	}
	ids := s.paginate(w, q, items, pp, include)
	out := make([]*orderJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.orderView(s.orders[id]))
	}
	// The views are the store's own copies: encode them (the slow part of
	// a poll's page) without holding up checkouts.
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusOK, out)
	return nil
}

func (s *Store) handleOrderGet(w http.ResponseWriter, q *request) *apiErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[pathID(q.r, "id")]
	if o == nil {
		return invalidOrderID(404)
	}
	s.writeOKLocked(w, q, http.StatusOK, s.orderView(o))
	return nil
}

func (s *Store) handleOrderCreate(w http.ResponseWriter, q *request) *apiErr {
	var in orderInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	v, e := s.createOrder(&in)
	if e != nil {
		return e
	}
	s.writeOK(w, q, http.StatusCreated, v)
	return nil
}

func (s *Store) handleOrderUpdate(w http.ResponseWriter, q *request) *apiErr {
	var in orderInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	v, e := s.updateOrder(pathID(q.r, "id"), &in)
	if e != nil {
		return e
	}
	s.writeOK(w, q, http.StatusOK, v)
	return nil
}

func (s *Store) handleOrderBatch(w http.ResponseWriter, q *request) *apiErr {
	decode := func(raw json.RawMessage) (*orderInput, *apiErr) {
		var in orderInput
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
		}
		return &in, nil
	}
	return s.batch(w, q,
		func(raw json.RawMessage) (any, *apiErr) {
			in, e := decode(raw)
			if e != nil {
				return nil, e
			}
			return s.createOrder(in)
		},
		func(id int64, raw json.RawMessage) (any, *apiErr) {
			in, e := decode(raw)
			if e != nil {
				return nil, e
			}
			return s.updateOrder(id, in)
		},
		func(id int64) (any, *apiErr) { return s.deleteOrder(id, true) })
}

// createOrder is POST /orders.
func (s *Store) createOrder(in *orderInput) (*orderJSON, *apiErr) {
	if e := validateOrderInput(in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	type line struct {
		p   *product
		qty int64
	}
	var lines []line
	for _, li := range in.LineItems {
		p, e := s.resolveLine(li)
		if e != nil {
			return nil, e
		}
		qty := int64(1)
		if li.Quantity != nil {
			qty = *li.Quantity
		}
		if qty == 0 {
			// Measured: WooCommerce 11.0.1 answers 500 to a zero-quantity line.
			return nil, newErr(500, "internal_server_error", "There has been a critical error on this website.")
		}
		lines = append(lines, line{p, qty})
	}
	o := s.newOrder("rest-api", now)
	o.Billing = in.Billing
	s.applyDetails(&o.Details, &in.detailsInput)
	for _, l := range lines {
		o.Items = append(o.Items, s.newItem(l.p, l.qty))
	}
	changed := map[int64]bool{}
	if in.Status != nil && *in.Status != "pending" {
		s.transition(o, *in.Status, now, changed)
	}
	if in.SetPaid {
		s.paymentComplete(o, now, changed)
	}
	s.fire(woo.TopicOrderCreated, o.ID)
	s.fireProducts(changed)
	return s.orderView(o), nil
}

// updateOrder is PUT /orders/{id}.
func (s *Store) updateOrder(id int64, in *orderInput) (*orderJSON, *apiErr) {
	if e := validateOrderInput(in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return nil, invalidOrderID(400)
	}
	now := s.opts.Now()
	changed := map[int64]bool{}
	// Validate lines first so bad input changes nothing.
	for _, li := range in.LineItems {
		if li.ID != nil {
			if findItem(o, *li.ID) == nil {
				return nil, newErr(400, "woocommerce_rest_invalid_item_id", "Order item ID provided is not associated with order.")
			}
			continue
		}
		if _, e := s.resolveLine(li); e != nil {
			return nil, e
		}
	}
	for _, li := range in.LineItems {
		if li.ID != nil {
			it := findItem(o, *li.ID)
			if li.Quantity == nil {
				continue
			}
			if *li.Quantity == 0 {
				o.Items = removeItem(o.Items, it)
				continue
			}
			it.Quantity = *li.Quantity
			// wc_maybe_adjust_line_item_product_stock, no status check.
			if p := s.itemProduct(it); p != nil && s.managed(p) {
				diff := it.Quantity - it.Reduced
				if diff != 0 {
					h := s.stockHolder(p)
					h.Stock -= diff
					it.Reduced = it.Quantity
					if it.ReducedMeta == 0 {
						s.nextMeta++
						it.ReducedMeta = s.nextMeta
					}
					s.touch(h, now)
					changed[h.ID], changed[p.ID] = true, true
				}
			}
			continue
		}
		p, _ := s.resolveLine(li)
		qty := int64(1)
		if li.Quantity != nil {
			qty = *li.Quantity
		}
		o.Items = append(o.Items, s.newItem(p, qty))
	}
	if in.Billing != nil {
		o.Billing = in.Billing
	}
	s.applyDetails(&o.Details, &in.detailsInput)
	if in.Status != nil {
		if o.Status == "trash" && *in.Status != "trash" {
			s.fire(woo.TopicOrderRestored, o.ID)
		}
		s.transition(o, *in.Status, now, changed)
	}
	if in.SetPaid && (o.Status == "pending" || o.Status == "failed" || o.Status == "on-hold" || o.Status == "cancelled") {
		s.paymentComplete(o, now, changed)
	}
	o.Modified = now
	s.fire(woo.TopicOrderUpdated, o.ID)
	s.fireProducts(changed)
	return s.orderView(o), nil
}

func findItem(o *order, id int64) *lineItem {
	for _, it := range o.Items {
		if it.ID == id {
			return it
		}
	}
	return nil
}

func removeItem(items []*lineItem, it *lineItem) []*lineItem {
	for i, x := range items {
		if x == it {
			return append(items[:i:i], items[i+1:]...)
		}
	}
	return items
}

func (s *Store) handleOrderDelete(w http.ResponseWriter, q *request) *apiErr {
	v, e := s.deleteOrder(pathID(q.r, "id"), forceParam(q))
	if e != nil {
		return e
	}
	s.writeOK(w, q, http.StatusOK, v)
	return nil
}

// deleteOrder trashes an order (order.deleted fires) or, with force,
// removes it (nothing fires).
func (s *Store) deleteOrder(id int64, force bool) (*orderJSON, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return nil, invalidOrderID(404)
	}
	view := s.orderView(o)
	if force {
		delete(s.orders, o.ID)
		s.orderIDs = removeID(s.orderIDs, o.ID)
		return view, nil
	}
	if o.Status == "trash" {
		return nil, newErr(410, "woocommerce_rest_already_trashed", "The order has already been deleted.")
	}
	o.Status = "trash"
	o.Modified = s.opts.Now()
	s.fire(woo.TopicOrderDeleted, o.ID)
	return s.orderView(o), nil
}

type refundInput struct {
	Amount     *string `json:"amount"`
	Reason     string  `json:"reason"`
	APIRefund  *bool   `json:"api_refund"`
	APIRestock *bool   `json:"api_restock"`
	LineItems  []struct {
		ID          int64           `json:"id"`
		Quantity    int64           `json:"quantity"`
		RefundTotal json.RawMessage `json:"refund_total"`
	} `json:"line_items"`
}

type refundJSONFull struct {
	ID              int64          `json:"id"`
	DateCreated     string         `json:"date_created"`
	DateCreatedGMT  string         `json:"date_created_gmt"`
	Amount          string         `json:"amount"`
	Reason          string         `json:"reason"`
	RefundedBy      int64          `json:"refunded_by"`
	RefundedPayment bool           `json:"refunded_payment"`
	MetaData        []metaEntry    `json:"meta_data"`
	LineItems       []lineItemJSON `json:"line_items"`
}

func (s *Store) handleRefundList(w http.ResponseWriter, q *request) *apiErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[pathID(q.r, "id")]
	if o == nil {
		return newErr(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
	}
	out := []refundJSONFull{}
	for _, r := range o.Refunds {
		out = append(out, refundJSONFull{ID: r.ID, DateCreated: fmtDate(o.Modified), DateCreatedGMT: fmtDate(o.Modified),
			Amount: money(r.Total), Reason: r.Reason, MetaData: []metaEntry{}, LineItems: []lineItemJSON{}})
	}
	w.Header().Set("X-WP-Total", strconv.Itoa(len(out)))
	w.Header().Set("X-WP-TotalPages", "1")
	s.writeOKLocked(w, q, http.StatusOK, out)
	return nil
}

func (s *Store) handleRefundCreate(w http.ResponseWriter, q *request) *apiErr {
	var in refundInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[pathID(q.r, "id")]
	if o == nil {
		return newErr(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
	}
	cannot := func(msg string) *apiErr {
		return newErr(500, "woocommerce_rest_cannot_create_order_refund", msg)
	}
	amount := 0.0
	if in.Amount != nil {
		v, err := strconv.ParseFloat(*in.Amount, 64)
		if err != nil {
			return cannot("Invalid refund amount.")
		}
		amount = v
	} else {
		for _, li := range in.LineItems {
			var str string
			var f float64
			if json.Unmarshal(li.RefundTotal, &str) == nil {
				f, _ = strconv.ParseFloat(str, 64)
			} else {
				_ = json.Unmarshal(li.RefundTotal, &f)
			}
			amount += f
		}
	}
	if amount <= 0 && len(in.LineItems) == 0 {
		return newErr(400, "woocommerce_rest_invalid_order_refund", "Refund amount must be greater than zero.")
	}
	if amount > o.total()-o.refunded()+0.0001 {
		return cannot("Invalid refund amount.")
	}
	for _, li := range in.LineItems {
		if findItem(o, li.ID) == nil {
			return cannot("Invalid line item.")
		}
	}
	if in.APIRefund == nil || *in.APIRefund {
		// No payment gateway in the simulator, as in a store whose order
		// has none: wc_refund_payment throws.
		return cannot("The payment gateway for this order does not exist.")
	}
	now := s.opts.Now()
	changed := map[int64]bool{}
	if in.APIRestock == nil || *in.APIRestock {
		for _, li := range in.LineItems {
			it := findItem(o, li.ID)
			if li.Quantity <= 0 || it.Reduced == 0 {
				continue
			}
			p := s.itemProduct(it)
			if p == nil || !s.managed(p) {
				continue
			}
			h := s.stockHolder(p)
			h.Stock += li.Quantity
			it.Reduced -= li.Quantity
			it.Restocked += li.Quantity
			s.touch(h, now)
			changed[h.ID], changed[p.ID] = true, true
		}
	}
	s.nextItem++
	r := refund{ID: s.nextItem, Reason: in.Reason, Total: amount}
	o.Refunds = append(o.Refunds, r)
	if o.total()-o.refunded() <= 0.0001 && o.Status != "refunded" {
		o.Status = "refunded"
	}
	o.Modified = now
	s.fire(woo.TopicOrderUpdated, o.ID)
	s.fireProducts(changed)
	s.writeOKLocked(w, q, http.StatusCreated, refundJSONFull{ID: r.ID, DateCreated: fmtDate(now), DateCreatedGMT: fmtDate(now),
		Amount: money(amount), Reason: in.Reason, MetaData: []metaEntry{}, LineItems: []lineItemJSON{}})
	return nil
}

// noteJSON is an order note as WC_REST_Order_Notes_Controller shows it.
type noteJSON struct {
	ID             int64             `json:"id"`
	Author         string            `json:"author"`
	DateCreated    string            `json:"date_created"`
	DateCreatedGMT string            `json:"date_created_gmt"`
	Note           string            `json:"note"`
	CustomerNote   bool              `json:"customer_note"`
	Links          map[string][]link `json:"_links"`
}

func (s *Store) noteView(o *order, n orderNote) noteJSON {
	base := s.home + "/wp-json/wc/v3/orders/" + strconv.FormatInt(o.ID, 10)
	return noteJSON{ID: n.ID, Author: "WooCommerce", DateCreated: fmtDate(n.Created), DateCreatedGMT: fmtDate(n.Created),
		Note: n.Note, CustomerNote: n.CustomerNote,
		Links: map[string][]link{
			"self":       {{Href: base + "/notes/" + strconv.FormatInt(n.ID, 10), TargetHints: &targetHints{Allow: []string{"GET", "DELETE"}}}},
			"collection": {{Href: base + "/notes"}},
			"up":         {{Href: base}},
		}}
}

func invalidNoteOrder() *apiErr {
	return newErr(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
}

// handleNoteList is GET /orders/{id}/notes: every note, unpaged, newest
// first (ties in the second in id order, as the captured answer shows);
// type is any (the default), customer or internal.
func (s *Store) handleNoteList(w http.ResponseWriter, q *request) *apiErr {
	typ := q.r.URL.Query().Get("type")
	switch typ {
	case "":
		typ = "any"
	case "any", "customer", "internal":
	default:
		return invalidParam("type", "type is not one of any, customer, and internal.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[pathID(q.r, "id")]
	if o == nil {
		return invalidNoteOrder()
	}
	out := make([]noteJSON, 0, len(o.Notes))
	for _, n := range o.Notes {
		if typ == "customer" && !n.CustomerNote || typ == "internal" && n.CustomerNote {
			continue
		}
		out = append(out, s.noteView(o, n))
	}
	slices.SortStableFunc(out, func(a, b noteJSON) int {
		if c := strings.Compare(b.DateCreatedGMT, a.DateCreatedGMT); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	s.writeOKLocked(w, q, http.StatusOK, out)
	return nil
}

type noteInput struct {
	Note         *string `json:"note"`
	CustomerNote bool    `json:"customer_note"`
}

// handleNoteCreate is POST /orders/{id}/notes. A customer note is where
// WooCommerce would e-mail the customer; the simulator sends nothing.
func (s *Store) handleNoteCreate(w http.ResponseWriter, q *request) *apiErr {
	var in noteInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.Note == nil {
		e := newErr(400, "rest_missing_callback_param", "Missing parameter(s): note")
		e.Data = map[string]any{"params": []string{"note"}}
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[pathID(q.r, "id")]
	if o == nil {
		return invalidNoteOrder()
	}
	n := s.addNote(o, *in.Note, in.CustomerNote, s.opts.Now())
	v := s.noteView(o, n)
	w.Header().Set("Location", v.Links["self"][0].Href)
	s.writeOKLocked(w, q, http.StatusCreated, v)
	return nil
}
