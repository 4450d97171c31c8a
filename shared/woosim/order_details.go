// An order's details beyond stock: customer, shipping address, payment,
// customer note, meta_data, shipping and fee lines, in the REST shapes of
// WooCommerce 11 (issue 13: the hub keeps the whole order).

package woosim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/stockwire/stockwire/shared/woo"
)

// orderDetails are the fields of an order that do not move stock.
type orderDetails struct {
	CustomerID         int64
	Shipping           map[string]string
	PaymentMethod      string
	PaymentMethodTitle string
	TransactionID      string
	CustomerNote       string
	Meta               []metaEntry
	ShippingLines      []shippingLine
	Fees               []feeLine
}

type shippingLine struct {
	ID          int64
	MethodID    string
	MethodTitle string
	InstanceID  string
	Total       float64
}

type feeLine struct {
	ID    int64
	Name  string
	Total float64
}

type shippingLineJSON struct {
	ID          int64       `json:"id"`
	MethodTitle string      `json:"method_title"`
	MethodID    string      `json:"method_id"`
	InstanceID  string      `json:"instance_id"`
	Total       string      `json:"total"`
	TotalTax    string      `json:"total_tax"`
	Taxes       []any       `json:"taxes"`
	TaxStatus   string      `json:"tax_status"`
	MetaData    []metaEntry `json:"meta_data"`
}

type feeLineJSON struct {
	ID        int64       `json:"id"`
	Name      string      `json:"name"`
	TaxClass  string      `json:"tax_class"`
	TaxStatus string      `json:"tax_status"`
	Amount    string      `json:"amount"`
	Total     string      `json:"total"`
	TotalTax  string      `json:"total_tax"`
	Taxes     []any       `json:"taxes"`
	MetaData  []metaEntry `json:"meta_data"`
}

// shippingLineInput and feeLineInput are the lines a REST create or
// update may add (WooCommerce adds a line without an id).
type shippingLineInput struct {
	MethodID    string `json:"method_id"`
	MethodTitle string `json:"method_title"`
	InstanceID  string `json:"instance_id"`
	Total       string `json:"total"`
}

type feeLineInput struct {
	Name  string `json:"name"`
	Total string `json:"total"`
}

// detailsInput is what a REST create or update may set of the details;
// nil leaves a field as it is.
type detailsInput struct {
	Shipping           map[string]string   `json:"shipping"`
	CustomerID         *int64              `json:"customer_id"`
	PaymentMethod      *string             `json:"payment_method"`
	PaymentMethodTitle *string             `json:"payment_method_title"`
	TransactionID      *string             `json:"transaction_id"`
	CustomerNote       *string             `json:"customer_note"`
	MetaData           []metaInput         `json:"meta_data"`
	ShippingLines      []shippingLineInput `json:"shipping_lines"`
	FeeLines           []feeLineInput      `json:"fee_lines"`
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// validate refuses what WooCommerce's schema refuses, before anything
// changes.
func (in *detailsInput) validate() *apiErr {
	if in.CustomerID != nil && *in.CustomerID < 0 {
		return invalidParam("customer_id", "customer_id must be greater than or equal to 0")
	}
	for _, l := range in.ShippingLines {
		if l.Total != "" && !decimalRE.MatchString(l.Total) {
			return invalidParam("shipping_lines", "shipping_lines[0][total] is not of type string.")
		}
	}
	for _, f := range in.FeeLines {
		if f.Total != "" && !decimalRE.MatchString(f.Total) {
			return invalidParam("fee_lines", "fee_lines[0][total] is not of type string.")
		}
	}
	for _, m := range in.MetaData {
		if m.Key == "" && m.ID == 0 {
			return invalidParam("meta_data", "meta_data[0][key] is a required property of meta_data[0].")
		}
	}
	return nil
}

// apply sets the details in gives; lines are added, meta_data entries
// updated by id or key, else added (WC_Data::set_meta_data). Called with
// s.mu held.
func (s *Store) applyDetails(d *orderDetails, in *detailsInput) {
	if in.Shipping != nil {
		d.Shipping = in.Shipping
	}
	setIf(&d.CustomerID, in.CustomerID)
	setIf(&d.PaymentMethod, in.PaymentMethod)
	setIf(&d.PaymentMethodTitle, in.PaymentMethodTitle)
	setIf(&d.TransactionID, in.TransactionID)
	setIf(&d.CustomerNote, in.CustomerNote)
	for _, l := range in.ShippingLines {
		s.nextItem++
		total, _ := strconv.ParseFloat(l.Total, 64)
		d.ShippingLines = append(d.ShippingLines, shippingLine{ID: s.nextItem, MethodID: l.MethodID, MethodTitle: l.MethodTitle,
			InstanceID: l.InstanceID, Total: total})
	}
	for _, f := range in.FeeLines {
		s.nextItem++
		total, _ := strconv.ParseFloat(f.Total, 64)
		d.Fees = append(d.Fees, feeLine{ID: s.nextItem, Name: f.Name, Total: total})
	}
	for _, m := range in.MetaData {
		d.Meta = s.upsertMeta(d.Meta, m)
	}
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// extras is what shipping lines and fees add to the order total.
func (d *orderDetails) extras() (shipping, fees float64) {
	for _, l := range d.ShippingLines {
		shipping += l.Total
	}
	for _, f := range d.Fees {
		fees += f.Total
	}
	return shipping, fees
}

func (d *orderDetails) shippingLinesJSON() []shippingLineJSON {
	out := make([]shippingLineJSON, len(d.ShippingLines))
	for i, l := range d.ShippingLines {
		out[i] = shippingLineJSON{ID: l.ID, MethodTitle: l.MethodTitle, MethodID: l.MethodID, InstanceID: l.InstanceID,
			Total: money(l.Total), TotalTax: "0.00", Taxes: []any{}, TaxStatus: "taxable", MetaData: []metaEntry{}}
	}
	return out
}

func (d *orderDetails) feeLinesJSON() []feeLineJSON {
	out := make([]feeLineJSON, len(d.Fees))
	for i, f := range d.Fees {
		out[i] = feeLineJSON{ID: f.ID, Name: f.Name, TaxStatus: "taxable", Amount: strconv.FormatFloat(f.Total, 'f', -1, 64),
			Total: money(f.Total), TotalTax: "0.00", Taxes: []any{}, MetaData: []metaEntry{}}
	}
	return out
}

func (d *orderDetails) metaJSON() []metaEntry {
	out := make([]metaEntry, len(d.Meta))
	for i, m := range d.Meta {
		out[i] = metaEntry{ID: m.ID, Key: m.Key, Value: append(json.RawMessage(nil), m.Value...)}
	}
	return out
}

// Plausible customers for storefront checkouts.
var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"}
	cities     = []string{"London", "Berlin", "Lyon", "Utrecht", "Porto", "Bologna", "Gent", "Aarhus"}
	countries  = []string{"GB", "DE", "FR", "NL", "PT", "IT", "BE", "DK"}
)

// checkoutDetails fills what a storefront checkout asks the customer for,
// varied by order id: a guest with billing and shipping addresses, paid
// by card, shipped at a flat rate.
func (s *Store) checkoutDetails(o *order) {
	i := int(o.ID % int64(len(firstNames)))
	first, last := firstNames[i], lastNames[(i+3)%len(lastNames)]
	addr := map[string]string{"first_name": first, "last_name": last, "company": "",
		"address_1": fmt.Sprintf("%d Market Street", 1+o.ID%97), "address_2": "", "city": cities[i], "state": "",
		"postcode": fmt.Sprintf("%05d", 10000+o.ID%89999), "country": countries[i], "phone": fmt.Sprintf("+44 20 7946 %04d", o.ID%10000)}
	o.Billing = map[string]string{"email": fmt.Sprintf("customer%d@example.com", o.ID)}
	o.Details.Shipping = map[string]string{}
	for k, v := range addr {
		o.Billing[k] = v
		o.Details.Shipping[k] = v
	}
	o.Details.PaymentMethod, o.Details.PaymentMethodTitle = "stripe", "Credit card (Stripe)"
	o.Details.TransactionID = "ch_" + randString(24)
	s.nextItem++
	o.Details.ShippingLines = []shippingLine{{ID: s.nextItem, MethodID: "flat_rate", MethodTitle: "Flat rate", InstanceID: "1", Total: 4.9}}
}

// wooAddress is an address map in shared/woo's type.
func wooAddress(a map[string]string) *woo.Address {
	return &woo.Address{FirstName: a["first_name"], LastName: a["last_name"], Company: a["company"], Address1: a["address_1"],
		Address2: a["address_2"], City: a["city"], State: a["state"], Postcode: a["postcode"], Country: a["country"],
		Email: a["email"], Phone: a["phone"]}
}
