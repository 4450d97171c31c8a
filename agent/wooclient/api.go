package wooclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

// OrderQuery selects orders for ListOrders.
type OrderQuery struct {
	// ModifiedAfter, when set, keeps orders modified strictly after it
	// (second resolution; sent as naive UTC with dates_are_gmt=true) and
	// sorts by modification time, oldest first.
	ModifiedAfter time.Time
	Status        []string // default: WooCommerce's "any"
	Page          int      // default 1
	PerPage       int      // default 100 (the maximum)
	Fields        []string // _fields; empty means all
	Include       []int64  // only these ids; still paged
}

// ProductQuery selects products for ListProducts. Results are sorted by id,
// ascending, so a full scan is stable while products are added.
type ProductQuery struct {
	Page          int     // default 1
	PerPage       int     // default 100
	Type          string  // simple, variable, ...
	SKU           string  // exact, comma-separated list allowed; also matches variations
	Include       []int64 // ids; still paged
	Fields        []string
	ModifiedAfter time.Time
}

// ProductUpdate is one item of a batch update. InventoryDelta is relative
// (WooCommerce's undocumented inventory_delta), StockQuantity absolute; send
// one of them. MetaData entries are upserted by key.
type ProductUpdate struct {
	ID             int64          `json:"id"`
	InventoryDelta *int64         `json:"inventory_delta,omitempty"`
	StockQuantity  *int64         `json:"stock_quantity,omitempty"`
	MetaData       []woo.MetaData `json:"meta_data,omitempty"`
}

// BatchResult is one item of a batch answer: the product as saved, or Err.
type BatchResult struct {
	ID      int64
	Product woo.Product
	Err     *woo.APIError
}

func perPage(n int) int {
	if n <= 0 || n > 100 {
		return 100
	}
	return n
}

func pageNo(n int) int { return max(n, 1) }

func ids(v []int64) string {
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// ListOrders returns one page of orders.
func (c *Client) ListOrders(ctx context.Context, q OrderQuery) ([]woo.Order, Page, error) {
	v := url.Values{
		"page":     {strconv.Itoa(pageNo(q.Page))},
		"per_page": {strconv.Itoa(perPage(q.PerPage))},
	}
	if !q.ModifiedAfter.IsZero() {
		v.Set("modified_after", q.ModifiedAfter.UTC().Format(woo.DateLayout))
		v.Set("dates_are_gmt", "true")
		v.Set("orderby", "modified")
		v.Set("order", "asc")
	}
	if len(q.Status) > 0 {
		v.Set("status", strings.Join(q.Status, ","))
	}
	if len(q.Fields) > 0 {
		v.Set("_fields", strings.Join(q.Fields, ","))
	}
	if len(q.Include) > 0 {
		v.Set("include", ids(q.Include))
	}
	var out []woo.Order
	h, err := c.do(ctx, call{method: "GET", path: "/orders", route: "GET /orders", query: v, idempotent: true}, &out)
	if err != nil {
		return nil, Page{}, fmt.Errorf("list orders: %w", err)
	}
	return out, pageOf(h), nil
}

// ListProducts returns one page of top-level products (variations only
// when q.SKU matches them).
func (c *Client) ListProducts(ctx context.Context, q ProductQuery) ([]woo.Product, Page, error) {
	v := url.Values{
		"page":     {strconv.Itoa(pageNo(q.Page))},
		"per_page": {strconv.Itoa(perPage(q.PerPage))},
		"orderby":  {"id"},
		"order":    {"asc"},
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.SKU != "" {
		v.Set("sku", q.SKU)
	}
	if len(q.Include) > 0 {
		v.Set("include", ids(q.Include))
	}
	if len(q.Fields) > 0 {
		v.Set("_fields", strings.Join(q.Fields, ","))
	}
	if !q.ModifiedAfter.IsZero() {
		v.Set("modified_after", q.ModifiedAfter.UTC().Format(woo.DateLayout))
		v.Set("dates_are_gmt", "true")
	}
	var out []woo.Product
	h, err := c.do(ctx, call{method: "GET", path: "/products", route: "GET /products", query: v, idempotent: true}, &out)
	if err != nil {
		return nil, Page{}, fmt.Errorf("list products: %w", err)
	}
	return out, pageOf(h), nil
}

// OrderUpdate is the body of UpdateOrder: the fields left nil or empty are
// not sent. MetaData entries are upserted by key (by id when ID is set);
// WooCommerce saves them and the status in one write.
type OrderUpdate struct {
	Status   *string        `json:"status,omitempty"`
	MetaData []woo.MetaData `json:"meta_data,omitempty"`
}

func orderPath(id int64) string { return "/orders/" + strconv.FormatInt(id, 10) }

// GetOrder returns order id, whole, with its meta_data. Returns an error
// matching ErrOrderNotFound (and a *woo.APIError) when the store has no
// such order.
func (c *Client) GetOrder(ctx context.Context, id int64) (woo.Order, error) {
	var out woo.Order
	_, err := c.do(ctx, call{method: "GET", path: orderPath(id), route: "GET /orders/{id}", idempotent: true}, &out)
	if err != nil {
		return woo.Order{}, fmt.Errorf("get order %d: %w", id, orderNotFound(err))
	}
	return out, nil
}

// UpdateOrder changes order id's status and meta in one write and returns
// the order as saved. Repeating it changes nothing more, so it is retried
// like a read. Returns an error matching ErrOrderNotFound when the store
// has no such order.
func (c *Client) UpdateOrder(ctx context.Context, id int64, u OrderUpdate) (woo.Order, error) {
	var out woo.Order
	_, err := c.do(ctx, call{method: "PUT", path: orderPath(id), route: "PUT /orders/{id}", body: u, idempotent: true}, &out)
	if err != nil {
		return woo.Order{}, fmt.Errorf("update order %d: %w", id, orderNotFound(err))
	}
	return out, nil
}

// ListOrderNotes returns every note of order orderID, private and
// customer notes, newest first. WooCommerce answers them all at once
// (the route has no paging). Returns an error matching ErrOrderNotFound
// when the store has no such order.
func (c *Client) ListOrderNotes(ctx context.Context, orderID int64) ([]woo.OrderNote, error) {
	var out []woo.OrderNote
	_, err := c.do(ctx, call{method: "GET", path: orderPath(orderID) + "/notes", route: "GET /orders/{id}/notes",
		query: url.Values{"type": {"any"}}, idempotent: true}, &out)
	if err != nil {
		return nil, fmt.Errorf("list notes of order %d: %w", orderID, orderNotFound(err))
	}
	return out, nil
}

// CreateOrderNote adds a note to order orderID: private, or shown (and
// e-mailed by WooCommerce) to the customer when customerNote is set. It is
// not retried once it may have reached the store (a retry could add the
// note twice): list the notes after an *OutcomeUnknownError. Returns an
// error matching ErrOrderNotFound when the store has no such order.
func (c *Client) CreateOrderNote(ctx context.Context, orderID int64, note string, customerNote bool) (woo.OrderNote, error) {
	var out woo.OrderNote
	body := map[string]any{"note": note, "customer_note": customerNote}
	_, err := c.do(ctx, call{method: "POST", path: orderPath(orderID) + "/notes", route: "POST /orders/{id}/notes", body: body}, &out)
	if err != nil {
		return woo.OrderNote{}, fmt.Errorf("add note to order %d: %w", orderID, orderNotFound(err))
	}
	return out, nil
}

// ListVariations returns one page of a variable product's variations,
// sorted by id.
func (c *Client) ListVariations(ctx context.Context, parentID int64, page, per int, fields []string) ([]woo.Product, Page, error) {
	v := url.Values{
		"page":     {strconv.Itoa(pageNo(page))},
		"per_page": {strconv.Itoa(perPage(per))},
		"orderby":  {"id"},
		"order":    {"asc"},
	}
	if len(fields) > 0 {
		v.Set("_fields", strings.Join(fields, ","))
	}
	var out []woo.Product
	h, err := c.do(ctx, call{method: "GET", path: "/products/" + strconv.FormatInt(parentID, 10) + "/variations", route: "GET /products/{id}/variations", query: v, idempotent: true}, &out)
	if err != nil {
		return nil, Page{}, fmt.Errorf("list variations of %d: %w", parentID, err)
	}
	for i := range out {
		if out[i].ParentID == 0 {
			out[i].ParentID = parentID
		}
	}
	return out, pageOf(h), nil
}

// GetProduct returns a product or a variation (WooCommerce serves
// variations on /products/{id} too, with type "variation").
func (c *Client) GetProduct(ctx context.Context, id int64) (woo.Product, error) {
	var out woo.Product
	_, err := c.do(ctx, call{method: "GET", path: "/products/" + strconv.FormatInt(id, 10), route: "GET /products/{id}", idempotent: true}, &out)
	if err != nil {
		return woo.Product{}, fmt.Errorf("get product %d: %w", id, err)
	}
	return out, nil
}

// BatchUpdateProducts updates products, MaxBatch per request, and returns
// one result per item in order. An item WooCommerce refused has Err set; the
// call still succeeds. A batch with InventoryDelta is not retried once it
// may have reached the store: the error is then an *OutcomeUnknownError
// (errors.Is ErrOutcomeUnknown) and the results of earlier requests are
// returned with it.
func (c *Client) BatchUpdateProducts(ctx context.Context, ups []ProductUpdate) ([]BatchResult, error) {
	return c.batch(ctx, "/products/batch", "POST /products/batch", ups)
}

// BatchUpdateVariations is BatchUpdateProducts for one variable product's
// variations.
func (c *Client) BatchUpdateVariations(ctx context.Context, parentID int64, ups []ProductUpdate) ([]BatchResult, error) {
	return c.batch(ctx, "/products/"+strconv.FormatInt(parentID, 10)+"/variations/batch", "POST /products/{id}/variations/batch", ups)
}

type batchItem struct {
	woo.Product
	Error *woo.APIError `json:"error"`
}

func (c *Client) batch(ctx context.Context, path, route string, ups []ProductUpdate) ([]BatchResult, error) {
	results := make([]BatchResult, 0, len(ups))
	for start := 0; start < len(ups); start += MaxBatch {
		chunk := ups[start:min(start+MaxBatch, len(ups))]
		idem := true
		for _, u := range chunk {
			if u.InventoryDelta != nil {
				idem = false
			}
		}
		var out batchAnswer
		_, err := c.do(ctx, call{method: "POST", path: path, route: route, body: map[string]any{"update": chunk}, idempotent: idem}, &out)
		if err != nil {
			return results, fmt.Errorf("batch update %d items: %w", len(chunk), err)
		}
		for i, it := range out.Update {
			r := BatchResult{ID: it.ID, Product: it.Product, Err: it.Error}
			if r.ID == 0 && i < len(chunk) {
				r.ID = chunk[i].ID
			}
			if r.Err != nil {
				r.Product = woo.Product{}
			}
			results = append(results, r)
		}
		if len(out.Update) != len(chunk) {
			return results, fmt.Errorf("batch update: %d results for %d items", len(out.Update), len(chunk))
		}
	}
	return results, nil
}

// ListWebhooks returns every webhook, all pages.
func (c *Client) ListWebhooks(ctx context.Context) ([]woo.Webhook, error) {
	var all []woo.Webhook
	for page := 1; ; page++ {
		v := url.Values{"page": {strconv.Itoa(page)}, "per_page": {"100"}}
		var out []woo.Webhook
		h, err := c.do(ctx, call{method: "GET", path: "/webhooks", route: "GET /webhooks", query: v, idempotent: true}, &out)
		if err != nil {
			return nil, fmt.Errorf("list webhooks page %d: %w", page, err)
		}
		all = append(all, out...)
		p := pageOf(h)
		if len(out) == 0 || page >= p.TotalPages {
			return all, nil
		}
	}
}

// webhookBody holds w's non-zero writable fields.
func webhookBody(w woo.Webhook) map[string]any {
	m := map[string]any{}
	if w.Name != "" {
		m["name"] = w.Name
	}
	if w.Status != "" {
		m["status"] = w.Status
	}
	if w.Topic != "" {
		m["topic"] = w.Topic
	}
	if w.DeliveryURL != "" {
		m["delivery_url"] = w.DeliveryURL
	}
	if w.Secret != "" {
		m["secret"] = w.Secret
	}
	return m
}

// CreateWebhook creates a webhook (always active; WooCommerce pings it).
// It is not retried once it may have reached the store (a retry could
// create a duplicate): list the webhooks after an *OutcomeUnknownError.
func (c *Client) CreateWebhook(ctx context.Context, w woo.Webhook) (woo.Webhook, error) {
	var out woo.Webhook
	_, err := c.do(ctx, call{method: "POST", path: "/webhooks", route: "POST /webhooks", body: webhookBody(w)}, &out)
	if err != nil {
		return woo.Webhook{}, fmt.Errorf("create webhook %s: %w", w.Topic, err)
	}
	return out, nil
}

// UpdateWebhook sends w's non-zero fields (name, status, topic,
// delivery_url, secret) to webhook id.
func (c *Client) UpdateWebhook(ctx context.Context, id int64, w woo.Webhook) (woo.Webhook, error) {
	var out woo.Webhook
	_, err := c.do(ctx, call{method: "PUT", path: "/webhooks/" + strconv.FormatInt(id, 10), route: "PUT /webhooks/{id}", body: webhookBody(w), idempotent: true}, &out)
	if err != nil {
		return woo.Webhook{}, fmt.Errorf("update webhook %d: %w", id, err)
	}
	return out, nil
}

// DeleteWebhook deletes webhook id permanently (force=true).
func (c *Client) DeleteWebhook(ctx context.Context, id int64) error {
	_, err := c.do(ctx, call{method: "DELETE", path: "/webhooks/" + strconv.FormatInt(id, 10), route: "DELETE /webhooks/{id}", query: url.Values{"force": {"true"}}, idempotent: true}, nil)
	if err != nil {
		return fmt.Errorf("delete webhook %d: %w", id, err)
	}
	return nil
}

// Check is the start-up probe. It reads one product id
// (GET /products?per_page=1&_fields=id) and then makes a harmless write: an
// empty batch, POST /products/batch with body {}, which needs write
// permission and the batch capability but changes nothing and fires no
// webhook. It returns nil or an error matching (errors.Is) exactly one of
// ErrStoreUnreachable, ErrNotWooCommerce, ErrUnknownKey, ErrWrongSecret,
// ErrReadOnlyKey, ErrWriteOnlyKey, ErrHTTPSRequired, ErrClockSkew,
// ErrForbidden; other failures are returned wrapped. It does not retry.
func (c *Client) Check(ctx context.Context) error {
	none := 0
	read := call{method: "GET", path: "/products", route: "GET /products", idempotent: true, retries: &none,
		query: url.Values{"per_page": {"1"}, "_fields": {"id"}}}
	var products []json.RawMessage
	if _, err := c.do(ctx, read, &products); err != nil {
		err = c.classify(ctx, read, err)
		return fmt.Errorf("check store read access: %w", err)
	}
	write := call{method: "POST", path: "/products/batch", route: "POST /products/batch", idempotent: true, retries: &none, body: struct{}{}}
	var answer json.RawMessage
	if _, err := c.do(ctx, write, &answer); err != nil {
		err = c.classify(ctx, write, err)
		return fmt.Errorf("check store write access: %w", err)
	}
	return nil
}

// kindError pairs a sentinel (a Check error, ErrOrderNotFound) with its
// cause; errors.Is and errors.As see both.
type kindError struct {
	kind  error
	cause error
}

func (e *kindError) Error() string { return e.kind.Error() + ": " + e.cause.Error() }
func (e *kindError) Unwrap() []error {
	return []error{e.kind, e.cause}
}

// orderNotFound marks err with ErrOrderNotFound when it is WooCommerce
// saying the order id is unknown: 404 on reads and notes, 400 on updates.
func orderNotFound(err error) error {
	var ae *woo.APIError
	if errors.As(err, &ae) && (ae.Code == "woocommerce_rest_shop_order_invalid_id" || ae.Code == "woocommerce_rest_order_invalid_id") {
		return &kindError{ErrOrderNotFound, err}
	}
	return err
}

func (c *Client) classify(ctx context.Context, cl call, err error) error {
	var ae *woo.APIError
	var se *StatusError
	switch {
	case errors.As(err, &ae):
		if ae.Code == "rest_no_route" {
			return &kindError{ErrNotWooCommerce, err}
		}
		kind := classifyAuth(ae, c.basic)
		if kind == ErrHTTPSRequired {
			// Unknown key and ignored credentials look the same over
			// Basic; an OAuth probe tells them apart (an unknown key is
			// named as such before any signature check).
			probe := cl
			probe.forceOAuth = true
			probe.oauthHTTP = true
			if _, perr := c.do(ctx, probe, nil); perr != nil {
				var pae *woo.APIError
				if errors.As(perr, &pae) && classifyAuth(pae, false) == ErrUnknownKey && strings.Contains(strings.ToLower(pae.Message), "consumer key") {
					return &kindError{ErrUnknownKey, err}
				}
			}
		}
		if kind != nil {
			return &kindError{kind, err}
		}
		return err
	case errors.As(err, &se):
		if se.Status == 404 || se.Status/100 == 3 || se.Status == 200 {
			return &kindError{ErrNotWooCommerce, err}
		}
		return &kindError{ErrStoreUnreachable, err}
	case ctx.Err() != nil:
		return err
	default:
		var jerr *json.SyntaxError
		if errors.As(err, &jerr) {
			return &kindError{ErrNotWooCommerce, err}
		}
		return &kindError{ErrStoreUnreachable, err}
	}
}
