// Package woo holds the WooCommerce REST API v3 types that the agent (a
// client of real stores) and woosim (the simulator) both exchange, the
// webhook topics and headers, and the OAuth 1.0a signature both must agree
// on. Field names and types follow ../../shared/reference/woocommerce.md and
// the captured samples; it imports only the standard library.
package woo

import (
	"encoding/json"
)

// APIPrefix is the REST namespace every route lives under.
const APIPrefix = "/wp-json/wc/v3"

// Webhook topics the agent registers.
const (
	TopicOrderCreated   = "order.created"
	TopicOrderUpdated   = "order.updated"
	TopicOrderDeleted   = "order.deleted"
	TopicOrderRestored  = "order.restored"
	TopicProductCreated = "product.created"
	TopicProductUpdated = "product.updated"
	TopicProductDeleted = "product.deleted"
)

// Webhook delivery headers.
const (
	HeaderWebhookSource     = "X-WC-Webhook-Source"
	HeaderWebhookTopic      = "X-WC-Webhook-Topic"
	HeaderWebhookResource   = "X-WC-Webhook-Resource"
	HeaderWebhookEvent      = "X-WC-Webhook-Event"
	HeaderWebhookSignature  = "X-WC-Webhook-Signature"
	HeaderWebhookID         = "X-WC-Webhook-ID"
	HeaderWebhookDeliveryID = "X-WC-Webhook-Delivery-ID"
)

// MetaData is one meta_data entry. Value is kept raw: WooCommerce stores
// strings, numbers, arrays and objects there.
type MetaData struct {
	ID    int64           `json:"id,omitempty"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// Product is the inventory subset of a product or variation. ManageStock is
// raw because variations may say the string "parent"; StockQuantity is null
// when stock is not managed.
type Product struct {
	ID              int64           `json:"id"`
	ParentID        int64           `json:"parent_id"`
	Name            string          `json:"name,omitempty"`
	SKU             string          `json:"sku"`
	Type            string          `json:"type,omitempty"`
	Status          string          `json:"status,omitempty"`
	ManageStock     json.RawMessage `json:"manage_stock,omitempty"`
	StockQuantity   *int64          `json:"stock_quantity"`
	StockStatus     string          `json:"stock_status,omitempty"`
	Backorders      string          `json:"backorders,omitempty"`
	Variations      []int64         `json:"variations,omitempty"`
	DateModified    string          `json:"date_modified,omitempty"`
	DateModifiedGMT string          `json:"date_modified_gmt,omitempty"`
	MetaData        []MetaData      `json:"meta_data,omitempty"`
}

// LineItem is one order line. ProductID is the parent for variations; SKU is
// the linked product's current SKU (null when it is gone).
type LineItem struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	ProductID   int64      `json:"product_id"`
	VariationID int64      `json:"variation_id"`
	Quantity    int64      `json:"quantity"`
	SKU         *string    `json:"sku"`
	MetaData    []MetaData `json:"meta_data,omitempty"`
}

// Order is the subset of an order a sync agent reads. MetaData holds the
// order's meta that WooCommerce does not keep internal (custom keys, even
// those starting with "_", such as _wc_shipment_tracking_items).
type Order struct {
	ID              int64      `json:"id"`
	Number          string     `json:"number"`
	Status          string     `json:"status"`
	DateCreatedGMT  *string    `json:"date_created_gmt"`
	DateModifiedGMT *string    `json:"date_modified_gmt"`
	CreatedVia      string     `json:"created_via,omitempty"`
	LineItems       []LineItem `json:"line_items"`
	MetaData        []MetaData `json:"meta_data,omitempty"`
}

// Meta returns the value of the order meta key and whether it is set.
func (o Order) Meta(key string) (json.RawMessage, bool) {
	for _, m := range o.MetaData {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// OrderNote is an order note (GET/POST /orders/{id}/notes). Author is
// "WooCommerce" for the store's own notes and those added through the
// API, else the user's name; a customer note is shown (and e-mailed) to
// the customer, the others are private.
type OrderNote struct {
	ID             int64  `json:"id"`
	Author         string `json:"author"`
	DateCreated    string `json:"date_created"`
	DateCreatedGMT string `json:"date_created_gmt"`
	Note           string `json:"note"`
	CustomerNote   bool   `json:"customer_note"`
}

// Webhook is a webhook as the REST API shows it (the secret is write-only).
type Webhook struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Topic       string `json:"topic"`
	Resource    string `json:"resource,omitempty"`
	Event       string `json:"event,omitempty"`
	DeliveryURL string `json:"delivery_url"`
	Secret      string `json:"secret,omitempty"`
}

// APIError is WooCommerce's error body: {"code","message","data":{"status"}}.
type APIError struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Data    APIErrorData `json:"data"`
}

// APIErrorData carries the HTTP status and optional extras.
type APIErrorData struct {
	Status     int   `json:"status"`
	ResourceID int64 `json:"resource_id,omitempty"`
}

func (e *APIError) Error() string {
	return e.Code + ": " + e.Message
}

// DateLayout is the layout of WooCommerce dates: no offset; *_gmt fields are
// UTC.
const DateLayout = "2006-01-02T15:04:05"
