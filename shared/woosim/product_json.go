// Product and variation JSON views, as WooCommerce 11.0.1 answers them, and
// the _links every view carries.

package woosim

import (
	"strconv"
)

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
