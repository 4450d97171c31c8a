package hub

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

// MaxRawOrderBytes bounds the WooCommerce order JSON a report carries. A
// real order is a few KB; one with a thousand lines stays well below.
const MaxRawOrderBytes = 1 << 20

// OrderDocument is the whole order as the hub keeps it, normalised from the
// WooCommerce payload (issue 13): customer, addresses, payment, every line
// with prices, taxes and discounts, shipping, fees, coupons, totals and
// meta_data. Money is a decimal string exactly as WooCommerce sends it
// (line discounts and the subtotal are computed exactly from those
// strings), never a float. Dates are UTC. The JSON encoding is what the
// hub stores and what the API answers, so names only ever get added.
//
// Personal data (customer names, email, phone, the addresses and the
// customer note) is erased after the retention period; the rest stays.
type OrderDocument struct {
	Number           string     `json:"number"`
	Status           string     `json:"status"`
	Currency         string     `json:"currency"`
	PricesIncludeTax bool       `json:"prices_include_tax"`
	CreatedVia       string     `json:"created_via"`
	DateCreated      *time.Time `json:"date_created"`
	DateModified     *time.Time `json:"date_modified"`
	DatePaid         *time.Time `json:"date_paid"`
	DateCompleted    *time.Time `json:"date_completed"`
	Customer         Customer   `json:"customer"`
	Billing          Address    `json:"billing"`
	Shipping         Address    `json:"shipping"`
	Payment          Payment    `json:"payment"`
	CustomerNote     string     `json:"customer_note"`
	Lines            []DocLine  `json:"lines"`
	ShippingLines    []DocShip  `json:"shipping_lines"`
	Fees             []DocFee   `json:"fees"`
	Coupons          []Coupon   `json:"coupons"`
	TaxLines         []DocTax   `json:"tax_lines"`
	Refunds          []Refund   `json:"refunds"`
	Totals           Totals     `json:"totals"`
	MetaData         []Meta     `json:"meta_data"`
}

// Customer is who placed the order: the WooCommerce customer id (0 for a
// guest) and the billing name, email and phone. Personal data.
type Customer struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// Address is a billing or shipping address. Personal data, except Country.
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
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// Payment is how the order was paid.
type Payment struct {
	Method        string `json:"method"`
	MethodTitle   string `json:"method_title"`
	TransactionID string `json:"transaction_id"`
}

// DocLine is one order line. Subtotal is before discounts, Total after,
// both excluding tax; Discount is Subtotal − Total. Price is WooCommerce's
// unit price (total / quantity) as it wrote the number. Attributes are the
// line's visible meta (a variation's size, colour); MetaData is all of it.
type DocLine struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	SKU         string    `json:"sku"`
	ProductID   int64     `json:"product_id"`
	VariationID int64     `json:"variation_id"`
	Quantity    int64     `json:"quantity"`
	Price       string    `json:"price"`
	Subtotal    string    `json:"subtotal"`
	SubtotalTax string    `json:"subtotal_tax"`
	Total       string    `json:"total"`
	TotalTax    string    `json:"total_tax"`
	Discount    string    `json:"discount"`
	TaxClass    string    `json:"tax_class"`
	Taxes       []LineTax `json:"taxes"`
	Attributes  []Attr    `json:"attributes"`
	MetaData    []Meta    `json:"meta_data"`
}

// LineTax is one tax rate's share of a line, shipping line or fee.
type LineTax struct {
	RateID   int64  `json:"rate_id"`
	Total    string `json:"total"`
	Subtotal string `json:"subtotal"`
}

// Attr is one visible attribute of a line: key "size", name "Size", value
// "S".
type Attr struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Meta is one meta_data entry; Value is the JSON WooCommerce sent.
type Meta struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	DisplayKey   string          `json:"display_key,omitempty"`
	DisplayValue json.RawMessage `json:"display_value,omitempty"`
}

// DocShip is one shipping method charged.
type DocShip struct {
	ID          int64     `json:"id"`
	MethodID    string    `json:"method_id"`
	MethodTitle string    `json:"method_title"`
	InstanceID  string    `json:"instance_id"`
	Total       string    `json:"total"`
	TotalTax    string    `json:"total_tax"`
	Taxes       []LineTax `json:"taxes"`
}

// DocFee is one fee charged.
type DocFee struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	TaxClass  string    `json:"tax_class"`
	TaxStatus string    `json:"tax_status"`
	Total     string    `json:"total"`
	TotalTax  string    `json:"total_tax"`
	Taxes     []LineTax `json:"taxes"`
}

// Coupon is one coupon applied.
type Coupon struct {
	ID          int64  `json:"id"`
	Code        string `json:"code"`
	Discount    string `json:"discount"`
	DiscountTax string `json:"discount_tax"`
}

// DocTax is one tax rate's total on the order.
type DocTax struct {
	ID               int64  `json:"id"`
	RateID           int64  `json:"rate_id"`
	RateCode         string `json:"rate_code"`
	Label            string `json:"label"`
	Compound         bool   `json:"compound"`
	RatePercent      string `json:"rate_percent"`
	TaxTotal         string `json:"tax_total"`
	ShippingTaxTotal string `json:"shipping_tax_total"`
}

// Refund is one refund; Total is negative, as WooCommerce lists it.
type Refund struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
	Total  string `json:"total"`
}

// Totals are the order's totals. Subtotal (the lines' subtotals summed) is
// the only one WooCommerce does not send.
type Totals struct {
	Subtotal    string `json:"subtotal"`
	Discount    string `json:"discount"`
	DiscountTax string `json:"discount_tax"`
	Shipping    string `json:"shipping"`
	ShippingTax string `json:"shipping_tax"`
	CartTax     string `json:"cart_tax"`
	Tax         string `json:"tax"`
	Total       string `json:"total"`
}

// ParseOrderDocument normalises the WooCommerce order JSON raw reported for
// order wooOrderID. Returns EINVALID, naming the field, when raw is too
// large, is not an order object, is another order's, or carries money that
// is not a decimal string or a date WooCommerce would not write.
func ParseOrderDocument(wooOrderID int64, raw json.RawMessage) (*OrderDocument, error) {
	if len(raw) > MaxRawOrderBytes {
		return nil, FieldErrorf("raw", EINVALID, "The order JSON must be at most %d bytes.", MaxRawOrderBytes)
	}
	var o woo.Order
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, FieldErrorf("raw", EINVALID, "The order JSON does not read as a WooCommerce order: %v.", err)
	}
	if o.ID != wooOrderID {
		return nil, FieldErrorf("raw.id", EINVALID, "The order JSON is order %d's, not %d's.", o.ID, wooOrderID)
	}
	p := docParser{}
	d := p.order(o)
	if p.err != nil {
		return nil, p.err
	}
	return d, nil
}

// docParser converts a woo.Order, keeping the first invalid field it met.
type docParser struct{ err error }

func (p *docParser) fail(field, format string, args ...any) {
	if p.err == nil {
		p.err = FieldErrorf("raw."+field, EINVALID, format, args...)
	}
}

// decimalRE is how WooCommerce writes money: wc_format_decimal's output.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// money checks a money string; "" (unset) is kept.
func (p *docParser) money(field, v string) string {
	if v != "" && (len(v) > 40 || !decimalRE.MatchString(v)) {
		p.fail(field, "%q is not a decimal amount.", v)
	}
	return v
}

// number keeps a JSON number's text (price, rate_percent) as a string.
func (p *docParser) number(field string, n json.Number) string {
	if n == "" {
		return ""
	}
	if _, ok := new(big.Rat).SetString(string(n)); !ok || len(n) > 40 {
		p.fail(field, "%q is not a number.", string(n))
	}
	return string(n)
}

func (p *docParser) date(field string, v *string) *time.Time {
	if v == nil || *v == "" {
		return nil
	}
	t, err := time.ParseInLocation(woo.DateLayout, *v, time.UTC)
	if err != nil {
		p.fail(field, "%q is not a WooCommerce date.", *v)
		return nil
	}
	return &t
}

func (p *docParser) order(o woo.Order) *OrderDocument {
	if len(o.LineItems) > maxDocLines {
		p.fail("line_items", "An order may have at most %d lines.", maxDocLines)
		return nil
	}
	bill, ship := address(o.Billing), address(o.Shipping)
	d := &OrderDocument{
		Number: o.Number, Status: strings.TrimPrefix(o.Status, "wc-"), Currency: o.Currency,
		PricesIncludeTax: o.PricesIncludeTax, CreatedVia: o.CreatedVia,
		DateCreated: p.date("date_created_gmt", o.DateCreatedGMT), DateModified: p.date("date_modified_gmt", o.DateModifiedGMT),
		DatePaid: p.date("date_paid_gmt", o.DatePaidGMT), DateCompleted: p.date("date_completed_gmt", o.DateCompletedGMT),
		Customer: Customer{ID: o.CustomerID, FirstName: bill.FirstName, LastName: bill.LastName, Email: bill.Email, Phone: bill.Phone},
		Billing:  bill, Shipping: ship,
		Payment:      Payment{Method: o.PaymentMethod, MethodTitle: o.PaymentMethodTitle, TransactionID: o.TransactionID},
		CustomerNote: o.CustomerNote,
		Lines:        make([]DocLine, len(o.LineItems)),
		Totals: Totals{Discount: p.money("discount_total", o.DiscountTotal), DiscountTax: p.money("discount_tax", o.DiscountTax),
			Shipping: p.money("shipping_total", o.ShippingTotal), ShippingTax: p.money("shipping_tax", o.ShippingTax),
			CartTax: p.money("cart_tax", o.CartTax), Tax: p.money("total_tax", o.TotalTax), Total: p.money("total", o.Total)},
		MetaData: metas(o.MetaData),
	}
	subtotals := make([]string, len(o.LineItems))
	for i, li := range o.LineItems {
		d.Lines[i] = p.line("line_items["+strconv.Itoa(i)+"]", li)
		subtotals[i] = d.Lines[i].Subtotal
	}
	if p.err == nil {
		d.Totals.Subtotal = sumDecimals(subtotals)
	}
	d.ShippingLines = p.shippingLines(o.ShippingLines)
	d.Fees = p.fees(o.FeeLines)
	d.Coupons = p.coupons(o.CouponLines)
	d.TaxLines = p.taxLines(o.TaxLines)
	d.Refunds = p.refunds(o.Refunds)
	return d
}

// maxDocLines bounds an order's lines, as the report's lines are bounded.
const maxDocLines = 1000

func address(a *woo.Address) Address {
	if a == nil {
		return Address{}
	}
	return Address{FirstName: a.FirstName, LastName: a.LastName, Company: a.Company, Address1: a.Address1, Address2: a.Address2,
		City: a.City, State: a.State, Postcode: a.Postcode, Country: a.Country, Email: a.Email, Phone: a.Phone}
}

func metas(in []woo.MetaData) []Meta {
	out := make([]Meta, len(in))
	for i, m := range in {
		out[i] = Meta{Key: m.Key, Value: m.Value, DisplayKey: m.DisplayKey, DisplayValue: m.DisplayValue}
	}
	return out
}

func (p *docParser) line(field string, li woo.LineItem) DocLine {
	l := DocLine{ID: li.ID, Name: li.Name, ProductID: li.ProductID, VariationID: li.VariationID, Quantity: li.Quantity,
		Price: p.number(field+".price", li.Price), Subtotal: p.money(field+".subtotal", li.Subtotal),
		SubtotalTax: p.money(field+".subtotal_tax", li.SubtotalTax), Total: p.money(field+".total", li.Total),
		TotalTax: p.money(field+".total_tax", li.TotalTax), TaxClass: li.TaxClass,
		Taxes: p.taxes(field+".taxes", li.Taxes), Attributes: []Attr{}, MetaData: metas(li.MetaData)}
	if li.SKU != nil {
		l.SKU = *li.SKU
	}
	if p.err == nil && l.Subtotal != "" && l.Total != "" {
		l.Discount = subDecimals(l.Subtotal, l.Total)
	}
	for _, m := range li.MetaData {
		var v string
		if strings.HasPrefix(m.Key, "_") || json.Unmarshal(m.Value, &v) != nil {
			continue // internal (_reduced_stock) or not a plain attribute
		}
		name := m.DisplayKey
		if name == "" {
			name = m.Key
		}
		l.Attributes = append(l.Attributes, Attr{Key: m.Key, Name: name, Value: v})
	}
	return l
}

func (p *docParser) taxes(field string, in []woo.LineTax) []LineTax {
	out := make([]LineTax, len(in))
	for i, t := range in {
		f := field + "[" + strconv.Itoa(i) + "]"
		out[i] = LineTax{RateID: t.ID, Total: p.money(f+".total", t.Total), Subtotal: p.money(f+".subtotal", t.Subtotal)}
	}
	return out
}

func (p *docParser) shippingLines(in []woo.ShippingLine) []DocShip {
	out := make([]DocShip, len(in))
	for i, s := range in {
		f := "shipping_lines[" + strconv.Itoa(i) + "]"
		out[i] = DocShip{ID: s.ID, MethodID: s.MethodID, MethodTitle: s.MethodTitle, InstanceID: s.InstanceID,
			Total: p.money(f+".total", s.Total), TotalTax: p.money(f+".total_tax", s.TotalTax), Taxes: p.taxes(f+".taxes", s.Taxes)}
	}
	return out
}

func (p *docParser) fees(in []woo.FeeLine) []DocFee {
	out := make([]DocFee, len(in))
	for i, fl := range in {
		f := "fee_lines[" + strconv.Itoa(i) + "]"
		out[i] = DocFee{ID: fl.ID, Name: fl.Name, TaxClass: fl.TaxClass, TaxStatus: fl.TaxStatus,
			Total: p.money(f+".total", fl.Total), TotalTax: p.money(f+".total_tax", fl.TotalTax), Taxes: p.taxes(f+".taxes", fl.Taxes)}
	}
	return out
}

func (p *docParser) coupons(in []woo.CouponLine) []Coupon {
	out := make([]Coupon, len(in))
	for i, c := range in {
		f := "coupon_lines[" + strconv.Itoa(i) + "]"
		out[i] = Coupon{ID: c.ID, Code: c.Code, Discount: p.money(f+".discount", c.Discount), DiscountTax: p.money(f+".discount_tax", c.DiscountTax)}
	}
	return out
}

func (p *docParser) taxLines(in []woo.TaxLine) []DocTax {
	out := make([]DocTax, len(in))
	for i, t := range in {
		f := "tax_lines[" + strconv.Itoa(i) + "]"
		out[i] = DocTax{ID: t.ID, RateID: t.RateID, RateCode: t.RateCode, Label: t.Label, Compound: t.Compound,
			RatePercent: p.number(f+".rate_percent", t.RatePercent), TaxTotal: p.money(f+".tax_total", t.TaxTotal),
			ShippingTaxTotal: p.money(f+".shipping_tax_total", t.ShippingTaxTotal)}
	}
	return out
}

func (p *docParser) refunds(in []woo.Refund) []Refund {
	out := make([]Refund, len(in))
	for i, r := range in {
		out[i] = Refund{ID: r.ID, Reason: r.Reason, Total: p.money("refunds["+strconv.Itoa(i)+"].total", r.Total)}
	}
	return out
}

// decimals is how many digits follow the point in a decimal string.
func decimals(v string) int {
	if _, frac, ok := strings.Cut(v, "."); ok {
		return len(frac)
	}
	return 0
}

// sumDecimals adds decimal strings exactly, written with as many decimals
// as the most precise of them; "" counts as zero. Callers pass strings
// that money() accepted.
func sumDecimals(vs []string) string {
	sum, dp := new(big.Rat), 2
	if len(vs) > 0 {
		dp = 0
	}
	for _, v := range vs {
		if v == "" {
			continue
		}
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			panic(fmt.Sprintf("sumDecimals: %q was not checked", v))
		}
		sum.Add(sum, r)
		dp = max(dp, decimals(v))
	}
	return sum.FloatString(dp)
}

// subDecimals is a − b, exactly, for checked decimal strings.
func subDecimals(a, b string) string {
	if neg, ok := strings.CutPrefix(b, "-"); ok {
		return sumDecimals([]string{a, neg})
	}
	return sumDecimals([]string{a, "-" + b})
}
