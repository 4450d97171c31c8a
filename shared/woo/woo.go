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
	// DisplayKey and DisplayValue are set on line items' meta only
	// (a variation attribute reads key "size", display_key "Size").
	DisplayKey   string          `json:"display_key,omitempty"`
	DisplayValue json.RawMessage `json:"display_value,omitempty"`
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
// the linked product's current SKU (null when it is gone). Money is a decimal
// string; Price (total/quantity) is the one JSON number WooCommerce sends.
type LineItem struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"`
	ProductID   int64       `json:"product_id"`
	VariationID int64       `json:"variation_id"`
	Quantity    int64       `json:"quantity"`
	SKU         *string     `json:"sku"`
	MetaData    []MetaData  `json:"meta_data,omitempty"`
	TaxClass    string      `json:"tax_class,omitempty"`
	Subtotal    string      `json:"subtotal,omitempty"`
	SubtotalTax string      `json:"subtotal_tax,omitempty"`
	Total       string      `json:"total,omitempty"`
	TotalTax    string      `json:"total_tax,omitempty"`
	Taxes       []LineTax   `json:"taxes,omitempty"`
	Price       json.Number `json:"price,omitempty"`
}

// LineTax is one tax rate's share of a line.
type LineTax struct {
	ID       int64  `json:"id"`
	Total    string `json:"total"`
	Subtotal string `json:"subtotal,omitempty"`
}

// Address is an order's billing or shipping address (shipping has no
// email).
type Address struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Company   string `json:"company"`
	Address1  string `json:"address_1"`
	Address2  string `json:"address_2"`
	City      string `json:"city"`
	State     string `json:"state"`
	Postcode  string `json:"postcode"`
	Country   string `json:"country"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone"`
}

// ShippingLine is one shipping method charged on an order.
type ShippingLine struct {
	ID          int64      `json:"id"`
	MethodTitle string     `json:"method_title"`
	MethodID    string     `json:"method_id"`
	InstanceID  string     `json:"instance_id,omitempty"`
	Total       string     `json:"total"`
	TotalTax    string     `json:"total_tax"`
	Taxes       []LineTax  `json:"taxes,omitempty"`
	MetaData    []MetaData `json:"meta_data,omitempty"`
}

// FeeLine is one fee charged on an order.
type FeeLine struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	TaxClass  string     `json:"tax_class,omitempty"`
	TaxStatus string     `json:"tax_status,omitempty"`
	Amount    string     `json:"amount,omitempty"`
	Total     string     `json:"total"`
	TotalTax  string     `json:"total_tax"`
	Taxes     []LineTax  `json:"taxes,omitempty"`
	MetaData  []MetaData `json:"meta_data,omitempty"`
}

// CouponLine is one coupon applied to an order.
type CouponLine struct {
	ID          int64      `json:"id"`
	Code        string     `json:"code"`
	Discount    string     `json:"discount"`
	DiscountTax string     `json:"discount_tax"`
	MetaData    []MetaData `json:"meta_data,omitempty"`
}

// TaxLine is one tax rate's total on an order.
type TaxLine struct {
	ID               int64       `json:"id"`
	RateCode         string      `json:"rate_code"`
	RateID           int64       `json:"rate_id"`
	Label            string      `json:"label"`
	Compound         bool        `json:"compound"`
	TaxTotal         string      `json:"tax_total"`
	ShippingTaxTotal string      `json:"shipping_tax_total"`
	RatePercent      json.Number `json:"rate_percent,omitempty"`
}

// Refund is a refund as an order lists it; Total is negative.
type Refund struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
	Total  string `json:"total"`
}

// Order is an order as the REST API and webhooks send it, without the
// fields a sync has no use for (order_key, payment_url, customer IP and
// user agent, _links). A _fields poll fills only a few.
type Order struct {
	ID                 int64          `json:"id"`
	ParentID           int64          `json:"parent_id,omitempty"`
	Number             string         `json:"number"`
	Status             string         `json:"status"`
	Currency           string         `json:"currency,omitempty"`
	PricesIncludeTax   bool           `json:"prices_include_tax,omitempty"`
	DateCreatedGMT     *string        `json:"date_created_gmt"`
	DateModifiedGMT    *string        `json:"date_modified_gmt"`
	DatePaidGMT        *string        `json:"date_paid_gmt,omitempty"`
	DateCompletedGMT   *string        `json:"date_completed_gmt,omitempty"`
	CreatedVia         string         `json:"created_via,omitempty"`
	CustomerID         int64          `json:"customer_id,omitempty"`
	Billing            *Address       `json:"billing,omitempty"`
	Shipping           *Address       `json:"shipping,omitempty"`
	PaymentMethod      string         `json:"payment_method,omitempty"`
	PaymentMethodTitle string         `json:"payment_method_title,omitempty"`
	TransactionID      string         `json:"transaction_id,omitempty"`
	CustomerNote       string         `json:"customer_note,omitempty"`
	DiscountTotal      string         `json:"discount_total,omitempty"`
	DiscountTax        string         `json:"discount_tax,omitempty"`
	ShippingTotal      string         `json:"shipping_total,omitempty"`
	ShippingTax        string         `json:"shipping_tax,omitempty"`
	CartTax            string         `json:"cart_tax,omitempty"`
	Total              string         `json:"total,omitempty"`
	TotalTax           string         `json:"total_tax,omitempty"`
	MetaData           []MetaData     `json:"meta_data,omitempty"`
	LineItems          []LineItem     `json:"line_items"`
	TaxLines           []TaxLine      `json:"tax_lines,omitempty"`
	ShippingLines      []ShippingLine `json:"shipping_lines,omitempty"`
	FeeLines           []FeeLine      `json:"fee_lines,omitempty"`
	CouponLines        []CouponLine   `json:"coupon_lines,omitempty"`
	Refunds            []Refund       `json:"refunds,omitempty"`
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
