// The Go API tests and commands drive a store with: Server, catalog set-up,
// storefront checkout, admin edits and read-outs.

package woosim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

// Server is a Store served over HTTP on loopback.
type Server struct {
	URL   string
	Store *Store

	ln  net.Listener
	srv *http.Server
}

// Start serves a new store on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) { return Listen("127.0.0.1:0", opts, false) }

// StartTLS is Start over HTTPS with a generated self-signed certificate.
func StartTLS(opts Options) (*Server, error) { return Listen("127.0.0.1:0", opts, true) }

// Listen serves a new store on addr, over TLS when useTLS.
func Listen(addr string, opts Options, useTLS bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	scheme := "http"
	if useTLS {
		cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("generate certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		scheme = "https"
	}
	st := NewStore(opts)
	u := scheme + "://" + ln.Addr().String()
	if opts.HomeURL == "" {
		st.SetHomeURL(u)
	}
	s := &Server{URL: u, Store: st, ln: ln,
		srv: &http.Server{Handler: st, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and the store's deliveries.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	s.Store.Close()
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "woosim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ProductSpec describes a product for CreateProduct.
type ProductSpec struct {
	Name        string
	SKU         string
	Price       string // default "10.00"
	Stock       int64
	ManageStock bool
	Backorders  string // default "no"
	// Variations makes a variable product with these variations.
	Variations []VariationSpec
}

// VariationSpec is one variation of a variable product. An empty SKU shows
// the parent's.
type VariationSpec struct {
	Option string // value of attribute "Size"
	SKU    string
	Stock  int64
}

// CreateProduct adds a product (and its variations) as wp-admin would,
// firing product.created. It returns the product id and variation ids.
func (s *Store) CreateProduct(spec ProductSpec) (int64, []int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	price := spec.Price
	if price == "" {
		price = "10.00"
	}
	in := &productInput{Name: &spec.Name, SKU: &spec.SKU, RegularPrice: &price}
	if spec.Backorders != "" {
		in.Backorders = &spec.Backorders
	}
	typ := "simple"
	if len(spec.Variations) > 0 {
		typ = "variable"
		in.Type = &typ
	} else if spec.ManageStock {
		in.ManageStock = json.RawMessage("true")
		in.StockQuantity = json.RawMessage(strconv.FormatInt(spec.Stock, 10))
	}
	if e := validateProductInput(in); e != nil {
		return 0, nil, e
	}
	p, e := s.newProduct(in, nil, now)
	if e != nil {
		return 0, nil, fmt.Errorf("create product %q: %w", spec.SKU, e)
	}
	s.fire(woo.TopicProductCreated, p.ID)
	var vids []int64
	for _, v := range spec.Variations {
		sku := v.SKU
		vin := &productInput{SKU: &sku, RegularPrice: &price, ManageStock: json.RawMessage("true"),
			StockQuantity: json.RawMessage(strconv.FormatInt(v.Stock, 10)),
			Attributes:    []attribute{{Name: "Size", Slug: "size", Option: v.Option}}}
		vp, e := s.newProduct(vin, p, now)
		if e != nil {
			return p.ID, vids, fmt.Errorf("create variation %q: %w", v.SKU, e)
		}
		s.fire(woo.TopicProductCreated, vp.ID)
		vids = append(vids, vp.ID)
	}
	return p.ID, vids, nil
}

// Seed creates a catalog with unique SKUs: Products simple products
// (PREFIX-000001…) and Variable variable products with VariationsPer
// variations each (PREFIX-V000001-1…), every stocked item holding Stock.
// It fires no webhooks.
func (s *Store) Seed(o SeedOptions) error {
	if o.SKUPrefix == "" {
		o.SKUPrefix = "SKU"
	}
	if o.VariationsPer <= 0 {
		o.VariationsPer = 3
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	price := "10.00"
	stock := json.RawMessage(strconv.Itoa(o.Stock))
	for i := 1; i <= o.Products; i++ {
		name := fmt.Sprintf("Product %d", i)
		sku := fmt.Sprintf("%s-%06d", o.SKUPrefix, i)
		in := &productInput{Name: &name, SKU: &sku, RegularPrice: &price, ManageStock: json.RawMessage("true"), StockQuantity: stock}
		if _, e := s.newProduct(in, nil, now); e != nil {
			return fmt.Errorf("seed product %s: %w", sku, e)
		}
	}
	typ := "variable"
	for i := 1; i <= o.Variable; i++ {
		name := fmt.Sprintf("Variable %d", i)
		sku := fmt.Sprintf("%s-V%06d", o.SKUPrefix, i)
		p, e := s.newProduct(&productInput{Name: &name, SKU: &sku, Type: &typ, RegularPrice: &price}, nil, now)
		if e != nil {
			return fmt.Errorf("seed product %s: %w", sku, e)
		}
		for j := 1; j <= o.VariationsPer; j++ {
			vsku := fmt.Sprintf("%s-%d", sku, j)
			vin := &productInput{SKU: &vsku, RegularPrice: &price, ManageStock: json.RawMessage("true"), StockQuantity: stock,
				Attributes: []attribute{{Name: "Size", Slug: "size", Option: strconv.Itoa(j)}}}
			if _, e := s.newProduct(vin, p, now); e != nil {
				return fmt.Errorf("seed variation %s: %w", vsku, e)
			}
		}
	}
	return nil
}

// StockBySKU returns the stock of the product or variation whose own SKU
// is sku; ok is false when there is none or it does not manage stock.
func (s *Store) StockBySKU(sku string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.skus[sku]
	if !ok {
		return 0, false
	}
	p := s.products[id]
	if !s.managed(p) {
		return 0, false
	}
	return s.stockHolder(p).Stock, true
}

// ProductIDBySKU returns the id of the product or variation with that SKU.
func (s *Store) ProductIDBySKU(sku string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.skus[sku]
	return id, ok
}

// MetaBySKU returns the raw value of meta key on the product with sku.
func (s *Store) MetaBySKU(sku, key string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.skus[sku]
	if !ok {
		return nil, false
	}
	for _, m := range s.products[id].Meta {
		if m.Key == key {
			return append(json.RawMessage(nil), m.Value...), true
		}
	}
	return nil, false
}

// SKUs returns every non-empty own SKU of products and variations, sorted.
func (s *Store) SKUs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.skus))
	for k := range s.skus {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Checkout is a storefront checkout: if every line has stock it reduces
// stock atomically, creates a processing order and fires webhooks;
// otherwise it returns ErrOutOfStock and changes nothing.
func (s *Store) Checkout(lines []CheckoutLine) (int64, error) {
	if len(lines) == 0 {
		return 0, fmt.Errorf("checkout: no lines: %w", errInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	need := map[int64]int64{}
	prods := make([]*product, len(lines))
	for i, l := range lines {
		if l.Quantity <= 0 {
			return 0, fmt.Errorf("checkout %s: quantity %d: %w", l.SKU, l.Quantity, errInvalid)
		}
		id, ok := s.skus[l.SKU]
		if !ok {
			return 0, fmt.Errorf("checkout %s: %w", l.SKU, ErrNotFound)
		}
		p := s.products[id]
		if p.Type == "variable" {
			return 0, fmt.Errorf("checkout %s: variable product: %w", l.SKU, errInvalid)
		}
		prods[i] = p
		h := s.stockHolder(p)
		if h.ManageStock {
			need[h.ID] += l.Quantity
		} else if p.StockStatus == "outofstock" {
			s.stats.CheckoutsRefused++
			return 0, fmt.Errorf("checkout %s: %w", l.SKU, ErrOutOfStock)
		}
	}
	for id, q := range need {
		h := s.products[id]
		if h.Stock < q && h.Backorders == "no" {
			s.stats.CheckoutsRefused++
			return 0, fmt.Errorf("checkout %s: %w", s.visibleSKU(h), ErrOutOfStock)
		}
	}
	o := s.newOrder("checkout", now)
	s.checkoutDetails(o)
	for i, l := range lines {
		o.Items = append(o.Items, s.newItem(prods[i], l.Quantity))
	}
	changed := map[int64]bool{}
	o.DatePaid = &now
	o.Status = "processing"
	s.addNote(o, "Payment complete.", false, now)
	s.reduceStock(o, now, changed)
	s.stats.CheckoutsAccepted++
	s.fire(woo.TopicOrderCreated, o.ID)
	s.fireProducts(changed)
	return o.ID, nil
}

func (s *Store) fireProducts(changed map[int64]bool) {
	for id := range changed {
		s.fire(woo.TopicProductUpdated, id)
	}
}

// SetOrderStatus changes an order's status as wp-admin would, moving stock
// by WooCommerce's rules and firing order.updated.
func (s *Store) SetOrderStatus(id int64, status string) error {
	if !orderStatuses[status] {
		return fmt.Errorf("set order %d status %q: %w", id, status, errInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return fmt.Errorf("set order %d status: %w", id, ErrNotFound)
	}
	now := s.opts.Now()
	changed := map[int64]bool{}
	if o.Status == status {
		return nil
	}
	s.transition(o, status, now, changed)
	o.Modified = now
	if status == "trash" {
		s.fire(woo.TopicOrderDeleted, o.ID)
	} else {
		s.fire(woo.TopicOrderUpdated, o.ID)
	}
	s.fireProducts(changed)
	return nil
}

// AdminEdit sets the stock of the product or variation with sku by hand,
// as in wp-admin (fires product.updated).
func (s *Store) AdminEdit(sku string, qty int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.skus[sku]
	if !ok {
		return fmt.Errorf("admin edit %s: %w", sku, ErrNotFound)
	}
	p := s.products[id]
	now := s.opts.Now()
	p.ManageStock = true
	p.Stock = qty
	s.touch(p, now)
	s.fire(woo.TopicProductUpdated, p.ID)
	return nil
}

// Orders returns every order, oldest first.
func (s *Store) Orders() []woo.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]woo.Order, 0, len(s.orderIDs))
	for _, id := range s.orderIDs {
		if o := s.orders[id]; o != nil {
			out = append(out, s.wooOrder(o))
		}
	}
	return out
}

// Order returns one order.
func (s *Store) Order(id int64) (woo.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return woo.Order{}, false
	}
	return s.wooOrder(o), true
}

// OrderNotes returns an order's notes, oldest first; ok is false when
// there is no such order.
func (s *Store) OrderNotes(id int64) (notes []woo.OrderNote, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o == nil {
		return nil, false
	}
	for _, n := range o.Notes {
		notes = append(notes, woo.OrderNote{ID: n.ID, Author: "WooCommerce", DateCreated: fmtDate(n.Created),
			DateCreatedGMT: fmtDate(n.Created), Note: n.Note, CustomerNote: n.CustomerNote})
	}
	return notes, true
}

// WebhookInfo is a webhook's state, secret excluded.
type WebhookInfo struct {
	ID          int64
	Topic       string
	Status      string
	DeliveryURL string
	Failures    int
}

// Webhooks lists the webhooks by id.
func (s *Store) Webhooks() []WebhookInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []WebhookInfo
	for _, w := range s.webhooks {
		out = append(out, WebhookInfo{ID: w.ID, Topic: w.Topic, Status: w.Status, DeliveryURL: w.DeliveryURL, Failures: w.Failures})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
