// The order model: line items, refunds, stock moved on status transitions
// and payment, and the order JSON view and input.

package woosim

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

// Order statuses WooCommerce knows.
var orderStatuses = map[string]bool{
	"pending": true, "processing": true, "on-hold": true, "completed": true,
	"cancelled": true, "refunded": true, "failed": true, "checkout-draft": true, "trash": true,
}

type lineItem struct {
	ID          int64
	Name        string
	ProductID   int64
	VariationID int64
	Quantity    int64
	Price       float64
	Reduced     int64 // _reduced_stock; 0 = not set
	ReducedMeta int64 // meta id of _reduced_stock
	Restocked   int64
}

// orderNote is an order note: WooCommerce's own (status changes, stock
// moves, payment) or one added through the REST API.
type orderNote struct {
	ID           int64
	Note         string
	CustomerNote bool
	Created      time.Time
}

type refund struct {
	ID     int64
	Reason string
	Total  float64
}

type order struct {
	ID            int64
	Status        string
	CreatedVia    string
	Created       time.Time
	Modified      time.Time
	DatePaid      *time.Time
	DateCompleted *time.Time
	StockReduced  bool
	Items         []*lineItem
	Refunds       []refund
	OrderKey      string
	Billing       map[string]string
	Details       orderDetails
	Notes         []orderNote
}

// statusNames are wc_get_order_status_name's labels, used in notes.
var statusNames = map[string]string{
	"pending": "Pending payment", "processing": "Processing", "on-hold": "On hold", "completed": "Completed",
	"cancelled": "Cancelled", "refunded": "Refunded", "failed": "Failed", "checkout-draft": "Draft",
}

func statusName(status string) string {
	if n, ok := statusNames[status]; ok {
		return n
	}
	return status
}

// addNote adds a note to o, as WC_Order::add_order_note does.
func (s *Store) addNote(o *order, note string, customer bool, now time.Time) orderNote {
	s.nextNote++
	n := orderNote{ID: s.nextNote, Note: note, CustomerNote: customer, Created: now}
	o.Notes = append(o.Notes, n)
	return n
}

// itemsTotal is the lines' total; total adds shipping and fees.
func (o *order) itemsTotal() float64 {
	t := 0.0
	for _, it := range o.Items {
		t += it.Price * float64(it.Quantity)
	}
	return t
}

func (o *order) total() float64 {
	shipping, fees := o.Details.extras()
	return o.itemsTotal() + shipping + fees
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// itemProduct is the product a line item reduces.
func (s *Store) itemProduct(it *lineItem) *product {
	id := it.ProductID
	if it.VariationID != 0 {
		id = it.VariationID
	}
	return s.products[id]
}

// reduceStock is wc_maybe_reduce_stock_levels: once per order, per item.
func (s *Store) reduceStock(o *order, now time.Time, changed map[int64]bool) {
	if o.StockReduced {
		return
	}
	var moves []string
	for _, it := range o.Items {
		if it.Reduced != 0 {
			continue
		}
		p := s.itemProduct(it)
		if p == nil || !s.managed(p) {
			continue
		}
		h := s.stockHolder(p)
		moves = append(moves, stockMove(it.Name, h.Stock, h.Stock-it.Quantity))
		h.Stock -= it.Quantity
		h.TotalSales += it.Quantity
		it.Reduced = it.Quantity
		s.nextMeta++
		it.ReducedMeta = s.nextMeta
		s.touch(h, now)
		s.touch(p, now)
		changed[h.ID] = true
		changed[p.ID] = true
	}
	if len(moves) > 0 {
		s.addNote(o, "Stock levels reduced: "+strings.Join(moves, ", "), false, now)
	}
	o.StockReduced = true
}

// stockMove is one product's part of a stock note, as in
// "Test Widget 1 (10&rarr;9)".
func stockMove(name string, from, to int64) string {
	return name + " (" + strconv.FormatInt(from, 10) + "&rarr;" + strconv.FormatInt(to, 10) + ")"
}

// restoreStock is wc_maybe_increase_stock_levels.
func (s *Store) restoreStock(o *order, now time.Time, changed map[int64]bool) {
	if !o.StockReduced {
		return
	}
	var moves []string
	for _, it := range o.Items {
		if it.Reduced == 0 {
			continue
		}
		p := s.itemProduct(it)
		if p != nil && s.managed(p) {
			h := s.stockHolder(p)
			moves = append(moves, stockMove(it.Name, h.Stock, h.Stock+it.Reduced))
			h.Stock += it.Reduced
			s.touch(h, now)
			s.touch(p, now)
			changed[h.ID] = true
			changed[p.ID] = true
		}
		it.Reduced = 0
		it.ReducedMeta = 0
	}
	if len(moves) > 0 {
		s.addNote(o, "Stock levels increased: "+strings.Join(moves, ", "), false, now)
	}
	o.StockReduced = false
}

// transition moves o to status as WooCommerce's status hooks do, noting
// the stock moves and then the change (as the captured notes show).
func (s *Store) transition(o *order, status string, now time.Time, changed map[int64]bool) {
	from := o.Status
	if from == status {
		return
	}
	o.Status = status
	switch status {
	case "processing", "completed", "on-hold":
		s.reduceStock(o, now, changed)
	case "cancelled", "pending":
		s.restoreStock(o, now, changed)
	case "refunded":
		if rem := o.total() - o.refunded(); rem > 0 {
			s.nextItem++
			o.Refunds = append(o.Refunds, refund{ID: s.nextItem, Reason: "Order status set to refunded. To return funds to the customer you will need to issue a refund through your payment gateway.", Total: rem})
		}
	}
	if status == "completed" && o.DateCompleted == nil {
		t := now
		o.DateCompleted = &t
	}
	if from != "trash" && status != "trash" {
		// Trashing and restoring are not status changes to WooCommerce's
		// notes.
		s.addNote(o, "Order status changed from "+statusName(from)+" to "+statusName(status)+".", false, now)
	}
}

func (o *order) refunded() float64 {
	t := 0.0
	for _, r := range o.Refunds {
		t += r.Total
	}
	return t
}

// paymentComplete is WC_Order::payment_complete.
func (s *Store) paymentComplete(o *order, now time.Time, changed map[int64]bool) {
	switch o.Status {
	case "pending", "on-hold", "failed", "cancelled", "checkout-draft":
	default:
		return
	}
	t := now
	o.DatePaid = &t
	// WooCommerce notes the payment, not the status change it makes.
	s.addNote(o, "Payment complete.", false, now)
	o.Status = "processing"
	s.reduceStock(o, now, changed)
}

type orderJSON struct {
	ID                 int64              `json:"id"`
	ParentID           int64              `json:"parent_id"`
	Status             string             `json:"status"`
	Currency           string             `json:"currency"`
	Version            string             `json:"version"`
	PricesIncludeTax   bool               `json:"prices_include_tax"`
	DateCreated        string             `json:"date_created"`
	DateModified       string             `json:"date_modified"`
	DiscountTotal      string             `json:"discount_total"`
	DiscountTax        string             `json:"discount_tax"`
	ShippingTotal      string             `json:"shipping_total"`
	ShippingTax        string             `json:"shipping_tax"`
	CartTax            string             `json:"cart_tax"`
	Total              string             `json:"total"`
	TotalTax           string             `json:"total_tax"`
	CustomerID         int64              `json:"customer_id"`
	OrderKey           string             `json:"order_key"`
	Billing            map[string]string  `json:"billing"`
	Shipping           map[string]string  `json:"shipping"`
	PaymentMethod      string             `json:"payment_method"`
	PaymentMethodTitle string             `json:"payment_method_title"`
	TransactionID      string             `json:"transaction_id"`
	CustomerIPAddress  string             `json:"customer_ip_address"`
	CustomerUserAgent  string             `json:"customer_user_agent"`
	CreatedVia         string             `json:"created_via"`
	CustomerNote       string             `json:"customer_note"`
	DateCompleted      *string            `json:"date_completed"`
	DatePaid           *string            `json:"date_paid"`
	CartHash           string             `json:"cart_hash"`
	Number             string             `json:"number"`
	MetaData           []metaEntry        `json:"meta_data"`
	LineItems          []lineItemJSON     `json:"line_items"`
	TaxLines           []any              `json:"tax_lines"`
	ShippingLines      []shippingLineJSON `json:"shipping_lines"`
	FeeLines           []feeLineJSON      `json:"fee_lines"`
	CouponLines        []any              `json:"coupon_lines"`
	Refunds            []refundJSON       `json:"refunds"`
	PaymentURL         string             `json:"payment_url"`
	IsEditable         bool               `json:"is_editable"`
	NeedsPayment       bool               `json:"needs_payment"`
	NeedsProcessing    bool               `json:"needs_processing"`
	DateCreatedGMT     string             `json:"date_created_gmt"`
	DateModifiedGMT    string             `json:"date_modified_gmt"`
	DateCompletedGMT   *string            `json:"date_completed_gmt"`
	DatePaidGMT        *string            `json:"date_paid_gmt"`
	CurrencySymbol     string             `json:"currency_symbol"`
	Links              map[string][]link  `json:"_links"`
}

type lineMeta struct {
	ID           int64  `json:"id"`
	Key          string `json:"key"`
	Value        string `json:"value"`
	DisplayKey   string `json:"display_key"`
	DisplayValue string `json:"display_value"`
}

type itemImage struct {
	ID  any    `json:"id"`
	Src string `json:"src"`
}

type lineItemJSON struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	ProductID      int64      `json:"product_id"`
	VariationID    int64      `json:"variation_id"`
	Quantity       int64      `json:"quantity"`
	TaxClass       string     `json:"tax_class"`
	Subtotal       string     `json:"subtotal"`
	SubtotalTax    string     `json:"subtotal_tax"`
	Total          string     `json:"total"`
	TotalTax       string     `json:"total_tax"`
	Taxes          []any      `json:"taxes"`
	MetaData       []lineMeta `json:"meta_data"`
	SKU            *string    `json:"sku"`
	GlobalUniqueID string     `json:"global_unique_id"`
	Price          float64    `json:"price"`
	Image          itemImage  `json:"image"`
	ParentName     *string    `json:"parent_name"`
}

type refundJSON struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
	Total  string `json:"total"`
}

var emptyAddress = []string{"first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country", "phone"}

func (s *Store) orderView(o *order) *orderJSON {
	home := s.home
	billing := map[string]string{"email": ""}
	shipping := map[string]string{}
	for _, k := range emptyAddress {
		billing[k] = ""
		shipping[k] = ""
	}
	for k, v := range o.Billing {
		billing[k] = v
	}
	for _, k := range emptyAddress {
		shipping[k] = o.Details.Shipping[k]
	}
	shippingTotal, _ := o.Details.extras()
	items := make([]lineItemJSON, 0, len(o.Items))
	for _, it := range o.Items {
		li := lineItemJSON{ID: it.ID, Name: it.Name, ProductID: it.ProductID, VariationID: it.VariationID,
			Quantity: it.Quantity, Subtotal: money(it.Price * float64(it.Quantity)), SubtotalTax: "0.00",
			Total: money(it.Price * float64(it.Quantity)), TotalTax: "0.00", Taxes: []any{}, MetaData: []lineMeta{},
			Price: it.Price, Image: itemImage{ID: "", Src: ""}}
		if p := s.itemProduct(it); p != nil {
			sku := s.visibleSKU(p)
			li.SKU = &sku
			if p.ParentID != 0 {
				if par := s.products[p.ParentID]; par != nil {
					n := par.Name
					li.ParentName = &n
				}
				for _, a := range p.Attributes {
					li.MetaData = append(li.MetaData, lineMeta{ID: 0, Key: a.Slug, Value: a.Option, DisplayKey: a.Name, DisplayValue: a.Option})
				}
			}
		}
		if it.Reduced != 0 {
			v := strconv.FormatInt(it.Reduced, 10)
			li.MetaData = append(li.MetaData, lineMeta{ID: it.ReducedMeta, Key: "_reduced_stock", Value: v, DisplayKey: "_reduced_stock", DisplayValue: v})
		}
		if it.Restocked != 0 {
			v := strconv.FormatInt(it.Restocked, 10)
			li.MetaData = append(li.MetaData, lineMeta{ID: it.ReducedMeta + 1, Key: "_restock_refunded_items", Value: v, DisplayKey: "_restock_refunded_items", DisplayValue: v})
		}
		items = append(items, li)
	}
	refunds := make([]refundJSON, 0, len(o.Refunds))
	for _, r := range o.Refunds {
		refunds = append(refunds, refundJSON{ID: r.ID, Reason: r.Reason, Total: money(-r.Total)})
	}
	id := strconv.FormatInt(o.ID, 10)
	needsPayment := (o.Status == "pending" || o.Status == "failed") && o.total() > 0
	return &orderJSON{
		ID: o.ID, Status: o.Status, Currency: "USD", Version: "11.0.1",
		DateCreated: fmtDate(o.Created), DateModified: fmtDate(o.Modified),
		DiscountTotal: "0.00", DiscountTax: "0.00", ShippingTotal: money(shippingTotal), ShippingTax: "0.00", CartTax: "0.00",
		Total: money(o.total()), TotalTax: "0.00", OrderKey: o.OrderKey, Billing: billing, Shipping: shipping,
		CreatedVia: o.CreatedVia, DateCompleted: fmtDatePtr(o.DateCompleted), DatePaid: fmtDatePtr(o.DatePaid),
		CustomerID: o.Details.CustomerID, PaymentMethod: o.Details.PaymentMethod, PaymentMethodTitle: o.Details.PaymentMethodTitle,
		TransactionID: o.Details.TransactionID, CustomerNote: o.Details.CustomerNote,
		Number: id, MetaData: o.Details.metaJSON(), LineItems: items, TaxLines: []any{}, ShippingLines: o.Details.shippingLinesJSON(),
		FeeLines: o.Details.feeLinesJSON(), CouponLines: []any{}, Refunds: refunds,
		PaymentURL: home + "/checkout/order-pay/" + id + "/?pay_for_order=true&key=" + o.OrderKey,
		IsEditable: o.Status == "pending" || o.Status == "on-hold" || o.Status == "auto-draft", NeedsPayment: needsPayment,
		NeedsProcessing: true, DateCreatedGMT: fmtDate(o.Created), DateModifiedGMT: fmtDate(o.Modified),
		DateCompletedGMT: fmtDatePtr(o.DateCompleted), DatePaidGMT: fmtDatePtr(o.DatePaid), CurrencySymbol: "$",
		Links: map[string][]link{
			"self":            {{Href: home + "/wp-json/wc/v3/orders/" + id, TargetHints: &targetHints{Allow: allowAll}}},
			"collection":      {{Href: home + "/wp-json/wc/v3/orders"}},
			"email_templates": {{Href: home + "/wp-json/wc/v3/orders/" + id + "/actions/email_templates", Embeddable: true}},
		},
	}
}

// wooOrder converts o to the shared type.
func (s *Store) wooOrder(o *order) woo.Order {
	c, m := fmtDate(o.Created), fmtDate(o.Modified)
	wo := woo.Order{ID: o.ID, Number: strconv.FormatInt(o.ID, 10), Status: o.Status,
		DateCreatedGMT: &c, DateModifiedGMT: &m, DatePaidGMT: fmtDatePtr(o.DatePaid), CreatedVia: o.CreatedVia,
		Currency: "USD", Total: money(o.total()), CustomerID: o.Details.CustomerID,
		Billing: wooAddress(o.Billing), Shipping: wooAddress(o.Details.Shipping),
		PaymentMethod: o.Details.PaymentMethod, PaymentMethodTitle: o.Details.PaymentMethodTitle,
		TransactionID: o.Details.TransactionID, CustomerNote: o.Details.CustomerNote}
	for _, me := range o.Details.Meta {
		wo.MetaData = append(wo.MetaData, woo.MetaData{ID: me.ID, Key: me.Key, Value: me.Value})
	}
	for _, it := range o.Items {
		li := woo.LineItem{ID: it.ID, Name: it.Name, ProductID: it.ProductID, VariationID: it.VariationID, Quantity: it.Quantity}
		if p := s.itemProduct(it); p != nil {
			sku := s.visibleSKU(p)
			li.SKU = &sku
		}
		if it.Reduced != 0 {
			li.MetaData = append(li.MetaData, woo.MetaData{ID: it.ReducedMeta, Key: "_reduced_stock",
				Value: json.RawMessage(strconv.Quote(strconv.FormatInt(it.Reduced, 10)))})
		}
		wo.LineItems = append(wo.LineItems, li)
	}
	return wo
}

type lineInput struct {
	ID          *int64          `json:"id"`
	ProductID   json.RawMessage `json:"product_id"`
	VariationID int64           `json:"variation_id"`
	SKU         string          `json:"sku"`
	Quantity    *int64          `json:"quantity"`
	Total       *string         `json:"total"`
}

type orderInput struct {
	Status    *string           `json:"status"`
	SetPaid   bool              `json:"set_paid"`
	Billing   map[string]string `json:"billing"`
	LineItems []lineInput       `json:"line_items"`
	detailsInput
}

// resolveLine finds the product a line input names.
func (s *Store) resolveLine(li lineInput) (*product, *apiErr) {
	var p *product
	if li.VariationID != 0 {
		p = s.products[li.VariationID]
	} else if len(li.ProductID) > 0 && string(li.ProductID) != "null" {
		id, err := parseInt(li.ProductID)
		if err != nil {
			return nil, invalidParam("line_items", "line_items[0][product_id] is not of type integer.")
		}
		p = s.products[id]
	} else if li.SKU != "" {
		if id, ok := s.skus[li.SKU]; ok {
			p = s.products[id]
		}
	}
	if p == nil || p.Status == "trash" || p.Type == "variable" && li.VariationID == 0 && len(p.Variations) > 0 {
		if p != nil && p.Type == "variable" {
			return nil, newErr(400, "woocommerce_rest_invalid_product_id", "Product ID provided is a variable product, a variation ID is required.")
		}
		return nil, newErr(400, "woocommerce_rest_invalid_product_id", "Product ID or SKU is invalid.")
	}
	return p, nil
}

func (s *Store) newItem(p *product, qty int64) *lineItem {
	s.nextItem++
	it := &lineItem{ID: s.nextItem, Name: p.Name, ProductID: p.ID, Quantity: qty}
	if p.Type == "variation" {
		it.ProductID = p.ParentID
		it.VariationID = p.ID
		if par := s.products[p.ParentID]; par != nil {
			it.Name = par.Name + " - " + p.Name
		}
	}
	it.Price, _ = strconv.ParseFloat(p.Price, 64)
	if math.IsNaN(it.Price) {
		it.Price = 0
	}
	return it
}

// newOrder creates a pending order via the channel via, its id taken from
// the shared post id sequence (like CPT and HPOS's placeholder posts).
func (s *Store) newOrder(via string, now time.Time) *order {
	s.nextID++
	o := &order{ID: s.nextID, Status: "pending", CreatedVia: via, Created: now, Modified: now,
		OrderKey: "wc_order_" + randString(13)}
	s.orders[o.ID] = o
	s.orderIDs = append(s.orderIDs, o.ID)
	return o
}

func validateOrderInput(in *orderInput) *apiErr {
	if in.Status != nil && (!orderStatuses[*in.Status] || *in.Status == "trash") {
		return invalidParam("status", "status is not one of pending, processing, on-hold, completed, cancelled, refunded, failed, and checkout-draft.")
	}
	for _, li := range in.LineItems {
		if li.Quantity != nil && *li.Quantity < 0 {
			return invalidParam("line_items", "line_items[0][quantity] must be greater than or equal to 0")
		}
	}
	return in.detailsInput.validate()
}
