package woosim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

type metaEntry struct {
	ID    int64           `json:"id"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type attribute struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Slug   string `json:"slug,omitempty"`
	Option string `json:"option,omitempty"`
}

type product struct {
	ID          int64
	ParentID    int64
	Name        string
	Slug        string
	SKU         string
	Type        string // simple, variable, grouped, external, variation
	Status      string
	ManageStock bool
	Stock       int64
	StockStatus string
	Backorders  string
	LowStock    *int64
	Price       string
	TotalSales  int64
	Variations  []int64
	Attributes  []attribute
	Meta        []metaEntry
	Created     time.Time
	Modified    time.Time
}

// visibleSKU is the SKU the API shows: an empty variation SKU shows the
// parent's.
func (s *Store) visibleSKU(p *product) string {
	if p.SKU == "" && p.ParentID != 0 {
		if par := s.products[p.ParentID]; par != nil {
			return par.SKU
		}
	}
	return p.SKU
}

// stockHolder is the product whose stock counts for p: a variation that
// does not manage stock while its parent does uses the parent's.
func (s *Store) stockHolder(p *product) *product {
	if p.Type == "variation" && !p.ManageStock {
		if par := s.products[p.ParentID]; par != nil && par.ManageStock {
			return par
		}
	}
	return p
}

func (s *Store) managed(p *product) bool { return s.stockHolder(p).ManageStock }

// deriveStatus recomputes stock_status as validate_props does.
func (s *Store) deriveStatus(p *product) {
	switch p.Type {
	case "external":
		p.StockStatus = "instock"
		return
	case "variable":
		if len(p.Variations) > 0 && !p.ManageStock {
			st := "outofstock"
			for _, vid := range p.Variations {
				v := s.products[vid]
				if v == nil || v.Status == "trash" {
					continue
				}
				if v.StockStatus == "instock" {
					st = "instock"
					break
				}
				if v.StockStatus == "onbackorder" {
					st = "onbackorder"
				}
			}
			p.StockStatus = st
			return
		}
	}
	h := s.stockHolder(p)
	if !h.ManageStock {
		if p.StockStatus == "" {
			p.StockStatus = "instock"
		}
		return
	}
	switch {
	case h.Stock > 0:
		p.StockStatus = "instock"
	case h.Backorders != "no":
		p.StockStatus = "onbackorder"
	default:
		p.StockStatus = "outofstock"
	}
}

// touch bumps date_modified and re-derives statuses of p, its parent and
// its children.
func (s *Store) touch(p *product, now time.Time) {
	p.Modified = now
	s.deriveStatus(p)
	for _, vid := range p.Variations {
		if v := s.products[vid]; v != nil {
			s.deriveStatus(v)
		}
	}
	if p.ParentID != 0 {
		if par := s.products[p.ParentID]; par != nil {
			s.deriveStatus(par)
		}
	}
}

type link struct {
	Href        string       `json:"href"`
	TargetHints *targetHints `json:"targetHints,omitempty"`
	Embeddable  bool         `json:"embeddable,omitempty"`
}

type targetHints struct {
	Allow []string `json:"allow"`
}

var allowAll = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

type category struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type dimensions struct {
	Length string `json:"length"`
	Width  string `json:"width"`
	Height string `json:"height"`
}

// productJSON is a product as GET /products/{id} answers (WooCommerce
// 11.0.1 field set and types).
type productJSON struct {
	ID                int64              `json:"id"`
	Name              string             `json:"name"`
	Slug              string             `json:"slug"`
	Permalink         string             `json:"permalink"`
	DateCreated       string             `json:"date_created"`
	DateCreatedGMT    string             `json:"date_created_gmt"`
	DateModified      string             `json:"date_modified"`
	DateModifiedGMT   string             `json:"date_modified_gmt"`
	Type              string             `json:"type"`
	Status            string             `json:"status"`
	Featured          bool               `json:"featured"`
	CatalogVisibility string             `json:"catalog_visibility"`
	Description       string             `json:"description"`
	ShortDescription  string             `json:"short_description"`
	SKU               string             `json:"sku"`
	Price             string             `json:"price"`
	RegularPrice      string             `json:"regular_price"`
	SalePrice         string             `json:"sale_price"`
	DateOnSaleFrom    *string            `json:"date_on_sale_from"`
	DateOnSaleFromGMT *string            `json:"date_on_sale_from_gmt"`
	DateOnSaleTo      *string            `json:"date_on_sale_to"`
	DateOnSaleToGMT   *string            `json:"date_on_sale_to_gmt"`
	OnSale            bool               `json:"on_sale"`
	Purchasable       bool               `json:"purchasable"`
	TotalSales        any                `json:"total_sales"`
	Virtual           bool               `json:"virtual"`
	Downloadable      bool               `json:"downloadable"`
	Downloads         []any              `json:"downloads"`
	DownloadLimit     int                `json:"download_limit"`
	DownloadExpiry    int                `json:"download_expiry"`
	ExternalURL       string             `json:"external_url"`
	ButtonText        string             `json:"button_text"`
	TaxStatus         string             `json:"tax_status"`
	TaxClass          string             `json:"tax_class"`
	ManageStock       any                `json:"manage_stock"`
	StockQuantity     *int64             `json:"stock_quantity"`
	Backorders        string             `json:"backorders"`
	BackordersAllowed bool               `json:"backorders_allowed"`
	Backordered       bool               `json:"backordered"`
	LowStockAmount    *int64             `json:"low_stock_amount"`
	SoldIndividually  bool               `json:"sold_individually"`
	Weight            string             `json:"weight"`
	Dimensions        dimensions         `json:"dimensions"`
	ShippingRequired  bool               `json:"shipping_required"`
	ShippingTaxable   bool               `json:"shipping_taxable"`
	ShippingClass     string             `json:"shipping_class"`
	ShippingClassID   int64              `json:"shipping_class_id"`
	ReviewsAllowed    bool               `json:"reviews_allowed"`
	AverageRating     string             `json:"average_rating"`
	RatingCount       int                `json:"rating_count"`
	UpsellIDs         []int64            `json:"upsell_ids"`
	CrossSellIDs      []int64            `json:"cross_sell_ids"`
	ParentID          int64              `json:"parent_id"`
	PurchaseNote      string             `json:"purchase_note"`
	Categories        []category         `json:"categories"`
	Brands            []any              `json:"brands"`
	Tags              []any              `json:"tags"`
	Images            []any              `json:"images"`
	Attributes        []any              `json:"attributes"`
	DefaultAttributes []any              `json:"default_attributes"`
	Variations        []int64            `json:"variations"`
	GroupedProducts   []int64            `json:"grouped_products"`
	MenuOrder         int                `json:"menu_order"`
	PriceHTML         string             `json:"price_html"`
	RelatedIDs        []int64            `json:"related_ids"`
	MetaData          []metaEntry        `json:"meta_data"`
	StockStatus       string             `json:"stock_status"`
	HasOptions        bool               `json:"has_options"`
	PostPassword      string             `json:"post_password"`
	GlobalUniqueID    string             `json:"global_unique_id"`
	PermalinkTemplate string             `json:"permalink_template,omitempty"`
	GeneratedSlug     string             `json:"generated_slug,omitempty"`
	Links             map[string][]link  `json:"_links"`
	Extra             map[string]float64 `json:"-"`
}

// variationJSON is a variation as /products/{pid}/variations/{id} answers.
type variationJSON struct {
	ID                int64             `json:"id"`
	Type              string            `json:"type"`
	DateCreated       string            `json:"date_created"`
	DateCreatedGMT    string            `json:"date_created_gmt"`
	DateModified      string            `json:"date_modified"`
	DateModifiedGMT   string            `json:"date_modified_gmt"`
	Description       string            `json:"description"`
	Permalink         string            `json:"permalink"`
	SKU               string            `json:"sku"`
	GlobalUniqueID    string            `json:"global_unique_id"`
	Price             string            `json:"price"`
	RegularPrice      string            `json:"regular_price"`
	SalePrice         string            `json:"sale_price"`
	DateOnSaleFrom    *string           `json:"date_on_sale_from"`
	DateOnSaleFromGMT *string           `json:"date_on_sale_from_gmt"`
	DateOnSaleTo      *string           `json:"date_on_sale_to"`
	DateOnSaleToGMT   *string           `json:"date_on_sale_to_gmt"`
	OnSale            bool              `json:"on_sale"`
	Status            string            `json:"status"`
	Purchasable       bool              `json:"purchasable"`
	Virtual           bool              `json:"virtual"`
	Downloadable      bool              `json:"downloadable"`
	Downloads         []any             `json:"downloads"`
	DownloadLimit     int               `json:"download_limit"`
	DownloadExpiry    int               `json:"download_expiry"`
	TaxStatus         string            `json:"tax_status"`
	TaxClass          string            `json:"tax_class"`
	ManageStock       any               `json:"manage_stock"`
	StockQuantity     *int64            `json:"stock_quantity"`
	StockStatus       string            `json:"stock_status"`
	Backorders        string            `json:"backorders"`
	BackordersAllowed bool              `json:"backorders_allowed"`
	Backordered       bool              `json:"backordered"`
	LowStockAmount    *int64            `json:"low_stock_amount"`
	Weight            string            `json:"weight"`
	Dimensions        dimensions        `json:"dimensions"`
	ShippingClass     string            `json:"shipping_class"`
	ShippingClassID   int64             `json:"shipping_class_id"`
	Image             any               `json:"image"`
	GalleryImageIDs   []int64           `json:"gallery_image_ids"`
	Attributes        []attribute       `json:"attributes"`
	MenuOrder         int               `json:"menu_order"`
	MetaData          []metaEntry       `json:"meta_data"`
	Name              string            `json:"name"`
	ParentID          int64             `json:"parent_id"`
	Links             map[string][]link `json:"_links"`
}

// copyOf returns a copy of v, never nil: a view is encoded after the
// store's lock is released, so it must not share the product's slices.
func copyOf[T any](v []T) []T {
	return append([]T{}, v...)
}

func (s *Store) stockFields(p *product) (manage any, qty *int64) {
	h := s.stockHolder(p)
	if h != p {
		q := h.Stock
		return "parent", &q
	}
	if !p.ManageStock {
		return false, nil
	}
	q := p.Stock
	return true, &q
}

// productView renders p in the product shape (also used for variations
// read through /products).
func (s *Store) productView(p *product) *productJSON {
	home := s.home
	manage, qty := s.stockFields(p)
	perma := home + "/product/" + p.Slug + "/"
	if p.Type == "variation" {
		if par := s.products[p.ParentID]; par != nil {
			perma = home + "/product/" + par.Slug + "/"
		}
	}
	price := p.Price
	var sales any = p.TotalSales
	links := map[string][]link{
		"self":       {{Href: home + "/wp-json/wc/v3/products/" + strconv.FormatInt(p.ID, 10), TargetHints: &targetHints{Allow: allowAll}}},
		"collection": {{Href: home + "/wp-json/wc/v3/products"}},
	}
	if p.Type == "variation" {
		// A variation read in the product shape: as WooCommerce 11.0.1 shows it.
		sales = strconv.FormatInt(p.TotalSales, 10)
		links["up"] = []link{{Href: home + "/wp-json/wc/v3/products/" + strconv.FormatInt(p.ParentID, 10)}}
	}
	return &productJSON{
		ID: p.ID, Name: p.Name, Slug: p.Slug, Permalink: perma,
		DateCreated: fmtDate(p.Created), DateCreatedGMT: fmtDate(p.Created),
		DateModified: fmtDate(p.Modified), DateModifiedGMT: fmtDate(p.Modified),
		Type: p.Type, Status: p.Status, CatalogVisibility: "visible",
		SKU: s.visibleSKU(p), Price: price, RegularPrice: price, Purchasable: price != "",
		TotalSales: sales, Downloads: []any{}, DownloadLimit: -1, DownloadExpiry: -1,
		TaxStatus: "taxable", ManageStock: manage, StockQuantity: qty,
		Backorders: p.Backorders, BackordersAllowed: p.Backorders != "no",
		Backordered: qty != nil && *qty <= 0 && p.Backorders != "no", LowStockAmount: p.LowStock,
		ShippingRequired: true, ShippingTaxable: true, ReviewsAllowed: true, AverageRating: "0.00",
		UpsellIDs: []int64{}, CrossSellIDs: []int64{}, ParentID: p.ParentID,
		Categories: []category{{ID: 15, Name: "Uncategorized", Slug: "uncategorized"}},
		Brands:     []any{}, Tags: []any{}, Images: []any{}, Attributes: []any{}, DefaultAttributes: []any{},
		Variations: copyOf(p.Variations), GroupedProducts: []int64{},
		PriceHTML:  `<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol" translate="no">&#36;</span>` + price + `</bdi></span>`,
		RelatedIDs: []int64{}, MetaData: copyOf(p.Meta), StockStatus: p.StockStatus,
		HasOptions: p.Type == "variable",
		Links:      links,
	}
}

// productEditView is productView plus the fields write answers carry
// (context edit).
func (s *Store) productEditView(p *product) *productJSON {
	v := s.productView(p)
	v.PermalinkTemplate = s.home + "/product/%pagename%/"
	v.GeneratedSlug = p.Slug
	return v
}

func (s *Store) variationView(p *product) *variationJSON {
	home := s.home
	manage, qty := s.stockFields(p)
	par := s.products[p.ParentID]
	parSlug := ""
	if par != nil {
		parSlug = par.Slug
	}
	perma := home + "/product/" + parSlug + "/"
	for i, a := range p.Attributes {
		sep := "?"
		if i > 0 {
			sep = "&"
		}
		perma += sep + "attribute_" + a.Slug + "=" + a.Option
	}
	pid := strconv.FormatInt(p.ParentID, 10)
	return &variationJSON{
		ID: p.ID, Type: "variation",
		DateCreated: fmtDate(p.Created), DateCreatedGMT: fmtDate(p.Created),
		DateModified: fmtDate(p.Modified), DateModifiedGMT: fmtDate(p.Modified),
		Permalink: perma, SKU: s.visibleSKU(p), Price: p.Price, RegularPrice: p.Price,
		Status: p.Status, Purchasable: p.Price != "", Downloads: []any{}, DownloadLimit: -1, DownloadExpiry: -1,
		TaxStatus: "taxable", TaxClass: "parent", ManageStock: manage, StockQuantity: qty,
		StockStatus: p.StockStatus, Backorders: p.Backorders, BackordersAllowed: p.Backorders != "no",
		Backordered: qty != nil && *qty <= 0 && p.Backorders != "no", LowStockAmount: p.LowStock,
		GalleryImageIDs: []int64{}, Attributes: copyOf(p.Attributes), MetaData: copyOf(p.Meta),
		Name: p.Name, ParentID: p.ParentID,
		Links: map[string][]link{
			"self":       {{Href: home + "/wp-json/wc/v3/products/" + pid + "/variations/" + strconv.FormatInt(p.ID, 10), TargetHints: &targetHints{Allow: allowAll}}},
			"collection": {{Href: home + "/wp-json/wc/v3/products/" + pid + "/variations"}},
			"up":         {{Href: home + "/wp-json/wc/v3/products/" + pid}},
		},
	}
}

func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// productInput is what create/update accept.
type productInput struct {
	ID             *int64          `json:"id"`
	Name           *string         `json:"name"`
	SKU            *string         `json:"sku"`
	Type           *string         `json:"type"`
	Status         *string         `json:"status"`
	RegularPrice   *string         `json:"regular_price"`
	ManageStock    json.RawMessage `json:"manage_stock"`
	StockQuantity  json.RawMessage `json:"stock_quantity"`
	InventoryDelta json.RawMessage `json:"inventory_delta"`
	StockStatus    *string         `json:"stock_status"`
	Backorders     *string         `json:"backorders"`
	LowStockAmount json.RawMessage `json:"low_stock_amount"`
	MetaData       []metaInput     `json:"meta_data"`
	Attributes     []attribute     `json:"attributes"`
}

type metaInput struct {
	ID    int64           `json:"id"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (in *productInput) changesStock() bool {
	return len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" ||
		len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" ||
		len(in.ManageStock) > 0
}

// apiErr is a WooCommerce error answer.
type apiErr struct {
	Status  int
	Code    string
	Message string
	Data    map[string]any
}

func (e *apiErr) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, msg string) *apiErr {
	return &apiErr{Status: status, Code: code, Message: msg}
}

func (e *apiErr) body() map[string]any {
	data := map[string]any{"status": e.Status}
	for k, v := range e.Data {
		data[k] = v
	}
	return map[string]any{"code": e.Code, "message": e.Message, "data": data}
}

func parseBool(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		switch str {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no", "":
			return false, nil
		}
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n != 0, nil
	}
	return false, fmt.Errorf("not a boolean: %s", raw)
}

func parseInt(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var str string
		if err2 := json.Unmarshal(raw, &str); err2 != nil {
			return 0, fmt.Errorf("not a number: %s", raw)
		}
		n = json.Number(strings.TrimSpace(str))
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, fmt.Errorf("not a number: %s", raw)
	}
	return int64(f), nil
}

func invalidParam(name, msg string) *apiErr {
	e := newErr(400, "rest_invalid_param", "Invalid parameter(s): "+name)
	e.Data = map[string]any{"params": map[string]string{name: msg},
		"details": map[string]any{name: map[string]any{"code": "rest_invalid_type", "message": msg, "data": nil}}}
	return e
}

// validateProductInput checks what the REST schema checks before anything
// changes.
func validateProductInput(in *productInput, create bool) *apiErr {
	if in.Type != nil {
		switch *in.Type {
		case "simple", "variable", "grouped", "external":
		default:
			return invalidParam("type", "type is not one of simple, grouped, external, and variable.")
		}
	}
	if in.Status != nil {
		switch *in.Status {
		case "draft", "pending", "private", "publish", "future", "trash":
		default:
			return invalidParam("status", "status is not one of draft, pending, private, publish, and future.")
		}
	}
	if in.Backorders != nil {
		switch *in.Backorders {
		case "no", "notify", "yes":
		default:
			return invalidParam("backorders", "backorders is not one of no, notify, and yes.")
		}
	}
	if len(in.ManageStock) > 0 {
		if _, err := parseBool(in.ManageStock); err != nil {
			return invalidParam("manage_stock", "manage_stock is not of type boolean.")
		}
	}
	if len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" {
		if _, err := parseInt(in.StockQuantity); err != nil {
			return invalidParam("stock_quantity", "stock_quantity is not of type integer.")
		}
	}
	if len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" {
		if _, err := parseInt(in.InventoryDelta); err != nil {
			return invalidParam("inventory_delta", "inventory_delta is not of type integer.")
		}
	}
	for _, m := range in.MetaData {
		if m.Key == "" && m.ID == 0 {
			return invalidParam("meta_data", "meta_data[0][key] is a required property of meta_data[0].")
		}
	}
	_ = create
	return nil
}

// checkSKU reports a duplicate as WooCommerce's set_sku does.
func (s *Store) checkSKU(sku string, self int64) *apiErr {
	if sku == "" {
		return nil
	}
	if other, ok := s.skus[sku]; ok && other != self {
		e := newErr(400, "product_invalid_sku", "Invalid or duplicated SKU.")
		uniq := sku
		for i := 1; ; i++ {
			uniq = sku + "-" + strconv.Itoa(i)
			if _, taken := s.skus[uniq]; !taken {
				break
			}
		}
		e.Data = map[string]any{"resource_id": other, "unique_sku": uniq}
		return e
	}
	return nil
}

func (s *Store) setSKU(p *product, sku string) {
	if p.SKU != "" && s.skus[p.SKU] == p.ID {
		delete(s.skus, p.SKU)
	}
	p.SKU = sku
	if sku != "" && p.Status != "trash" {
		s.skus[sku] = p.ID
	}
}

// applyInput writes in to p as prepare_object_for_database does. The
// caller validated in and holds s.mu. It returns whether stock changed.
func (s *Store) applyInput(p *product, in *productInput, now time.Time) (stockChanged bool, err *apiErr) {
	if in.SKU != nil && *in.SKU != p.SKU {
		if e := s.checkSKU(*in.SKU, p.ID); e != nil {
			return false, e
		}
		s.setSKU(p, *in.SKU)
	}
	if in.Name != nil {
		p.Name = *in.Name
		if p.Slug == "" {
			p.Slug = slugify(*in.Name)
		}
	}
	if in.Type != nil && p.Type != "variation" {
		p.Type = *in.Type
	}
	if in.Status != nil {
		if p.ParentID == 0 && s.products[p.ID] != nil && (p.Status == "trash") != (*in.Status == "trash") {
			if *in.Status == "trash" {
				s.topTrashed++
			} else {
				s.topTrashed--
			}
		}
		if s.products[p.ID] != nil && p.SKU != "" && (p.Status == "trash") != (*in.Status == "trash") {
			if *in.Status == "trash" {
				if s.skus[p.SKU] == p.ID {
					delete(s.skus, p.SKU)
				}
			} else if _, taken := s.skus[p.SKU]; !taken {
				s.skus[p.SKU] = p.ID
			}
		}
		p.Status = *in.Status
	}
	if in.RegularPrice != nil {
		p.Price = *in.RegularPrice
	}
	if in.Backorders != nil {
		p.Backorders = *in.Backorders
	}
	if len(in.LowStockAmount) > 0 {
		if string(in.LowStockAmount) == "null" {
			p.LowStock = nil
		} else if v, e := parseInt(in.LowStockAmount); e == nil {
			p.LowStock = &v
		}
	}
	if in.Attributes != nil && p.Type == "variation" {
		p.Attributes = in.Attributes
		for i := range p.Attributes {
			if p.Attributes[i].Slug == "" {
				p.Attributes[i].Slug = slugify(p.Attributes[i].Name)
			}
		}
	}
	if p.Type == "grouped" || p.Type == "external" {
		p.ManageStock = false
	} else if len(in.ManageStock) > 0 {
		b, _ := parseBool(in.ManageStock)
		if b != p.ManageStock {
			stockChanged = true
		}
		p.ManageStock = b
	}
	if p.ManageStock {
		before := p.Stock
		if len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" {
			v, _ := parseInt(in.StockQuantity)
			p.Stock = v
		} else if len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" {
			d, _ := parseInt(in.InventoryDelta)
			p.Stock += d
		}
		if p.Stock != before {
			stockChanged = true
		}
	} else {
		p.Stock = 0
		p.LowStock = nil
		p.Backorders = "no"
		if in.StockStatus != nil {
			p.StockStatus = *in.StockStatus
		}
	}
	for _, m := range in.MetaData {
		s.setMeta(p, m)
	}
	s.touch(p, now)
	return stockChanged, nil
}

func (s *Store) setMeta(p *product, m metaInput) {
	val := m.Value
	if len(val) == 0 {
		val = json.RawMessage(`""`)
	}
	for i := range p.Meta {
		if m.ID != 0 && p.Meta[i].ID == m.ID || m.ID == 0 && p.Meta[i].Key == m.Key {
			if string(val) == "null" {
				p.Meta = append(p.Meta[:i], p.Meta[i+1:]...)
				return
			}
			p.Meta[i].Value = val
			if m.Key != "" {
				p.Meta[i].Key = m.Key
			}
			return
		}
	}
	if string(val) == "null" || m.Key == "" {
		return
	}
	s.nextMeta++
	p.Meta = append(p.Meta, metaEntry{ID: s.nextMeta, Key: m.Key, Value: val})
}

// newProduct creates a product (or a variation when parent != nil) from in.
func (s *Store) newProduct(in *productInput, parent *product, now time.Time) (*product, *apiErr) {
	if in.SKU != nil {
		if e := s.checkSKU(*in.SKU, 0); e != nil {
			return nil, e
		}
	}
	s.nextID++
	p := &product{ID: s.nextID, Type: "simple", Status: "publish", Backorders: "no",
		StockStatus: "instock", Created: now, Modified: now}
	if parent != nil {
		p.Type = "variation"
		p.ParentID = parent.ID
	}
	if _, err := s.applyInput(p, in, now); err != nil {
		s.nextID--
		return nil, err
	}
	if p.Name == "" && parent != nil {
		var opts []string
		for _, a := range p.Attributes {
			opts = append(opts, a.Option)
		}
		p.Name = strings.Join(opts, ", ")
	}
	if p.Slug == "" {
		p.Slug = "product-" + strconv.FormatInt(p.ID, 10)
	}
	s.products[p.ID] = p
	if parent == nil && p.Status == "trash" {
		s.topTrashed++
	}
	if parent != nil {
		parent.Variations = append(parent.Variations, p.ID)
		s.touch(parent, now)
	} else {
		if n := len(s.topIDs); n > 0 && s.products[s.topIDs[n-1]].Created.After(p.Created) {
			s.topOrdered = false
		}
		s.topIDs = append(s.topIDs, p.ID)
	}
	s.touch(p, now)
	return p, nil
}
