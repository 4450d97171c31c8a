// Package catalog maps the store's SKUs to WooCommerce product and
// variation ids. It pages through every product (100 per page, with
// _fields) and the variations of variable products, and reports what it
// will not guess about: items without a SKU, SKUs held by more than one
// item, and variations without a SKU of their own (WooCommerce shows the
// parent's SKU for them). It stays fresh from product webhooks (Update,
// Refresh, Remove) and a periodic full rescan (Run).
//
// It leaves stock figures and writes to agent/stock; Qty is only what the
// last read saw.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/backoff"
	"github.com/stockwire/stockwire/shared/woo"
)

// API is the part of *wooclient.Client the catalog uses.
type API interface {
	ListProducts(ctx context.Context, q wooclient.ProductQuery) ([]woo.Product, wooclient.Page, error)
	ListVariations(ctx context.Context, parentID int64, page, perPage int, fields []string) ([]woo.Product, wooclient.Page, error)
	GetProduct(ctx context.Context, id int64) (woo.Product, error)
}

var _ API = (*wooclient.Client)(nil)

// Fields requested when listing products and variations.
var (
	productFields   = []string{"id", "parent_id", "sku", "type", "manage_stock", "stock_quantity", "variations"}
	variationFields = []string{"id", "parent_id", "sku", "manage_stock", "stock_quantity"}
)

// Entry is where one SKU lives in the store.
type Entry struct {
	SKU         string
	ProductID   int64 // the product; for a variation, its parent (as order line items say)
	VariationID int64 // 0 for a product that is not a variation
	ParentID    int64 // the variable parent of a variation, else 0
	ManageStock bool  // stock managed by this item (not "parent")
	Qty         int64 // stock quantity at the last read (0 when not managed)
}

// ID returns the id to read and write the item by: the variation's id for
// a variation, else the product's.
func (e Entry) ID() int64 {
	if e.VariationID != 0 {
		return e.VariationID
	}
	return e.ProductID
}

// IssueKind names a catalog problem the agent will not guess about.
type IssueKind string

// Issue kinds.
const (
	IssueEmptySKU     IssueKind = "empty_sku"     // product or variation without a SKU: not mapped
	IssueDuplicateSKU IssueKind = "duplicate_sku" // several items show this SKU: none mapped
	IssueInheritedSKU IssueKind = "inherited_sku" // variation showing its parent's SKU: not mapped
)

// Issue is one unmapped item.
type Issue struct {
	Kind     IssueKind
	SKU      string
	ID       int64 // product or variation id
	ParentID int64
}

// Report summarises a full scan.
type Report struct {
	Products   int // top-level products read
	Variations int // variations read
	Mapped     int // SKUs mapped
	Issues     []Issue
	Duration   time.Duration
}

// item is one product or variation as last read. Guarded by Catalog.mu.
type item struct {
	id, parent int64
	sku        string
	typ        string
	manage     bool
	qty        int64
	inherited  bool
	variations []int64
}

// Config configures a Catalog. API is required.
type Config struct {
	API API
	// RescanInterval is the period of Run's full rescans. Defaults to 1h.
	RescanInterval time.Duration
	// ProgressEvery logs progress every that many product pages during a
	// scan. Defaults to 20 (2,000 products).
	ProgressEvery int
	// Workers is how many variable products' variations are read at once.
	// Defaults to 4. The client's rate limit still applies.
	Workers    int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Catalog is the SKU map. It is safe for concurrent use.
type Catalog struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	scanMu  sync.Mutex // one full scan at a time

	mu    sync.RWMutex
	items map[int64]*item    // by product/variation id
	skus  map[string][]int64 // own, non-inherited SKU → ids holding it
	ready bool
}

// New returns an empty catalog; call Scan or Run to fill it.
func New(cfg Config) (*Catalog, error) {
	if cfg.API == nil {
		return nil, errors.New("catalog: API is required")
	}
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = time.Hour
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 20
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Catalog{cfg: cfg, log: cfg.Logger, items: map[int64]*item{}, skus: map[string][]int64{}}
	m, err := newMetrics(cfg.Registerer, c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Lookup returns the entry of sku; ok is false when the SKU is unknown,
// duplicated or only inherited.
func (c *Catalog) Lookup(sku string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := c.skus[sku]
	if len(ids) != 1 {
		return Entry{}, false
	}
	return c.entry(c.items[ids[0]]), true
}

// LookupID returns the entry of a product or variation id, if it is
// mapped.
func (c *Catalog) LookupID(id int64) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	it, ok := c.items[id]
	if !ok || it.sku == "" || it.inherited || len(c.skus[it.sku]) != 1 {
		return Entry{}, false
	}
	return c.entry(it), true
}

func (c *Catalog) entry(it *item) Entry {
	e := Entry{SKU: it.sku, ProductID: it.id, ManageStock: it.manage, Qty: it.qty}
	if it.parent != 0 {
		e.ProductID, e.VariationID, e.ParentID = it.parent, it.id, it.parent
	}
	return e
}

// Len returns the number of mapped SKUs.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, ids := range c.skus {
		if len(ids) == 1 {
			n++
		}
	}
	return n
}

// Ready reports whether a full scan has completed.
func (c *Catalog) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ready
}

// Entries returns every mapped SKU's entry, sorted by SKU.
func (c *Catalog) Entries() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Entry, 0, len(c.skus))
	for _, ids := range c.skus {
		if len(ids) == 1 {
			out = append(out, c.entry(c.items[ids[0]]))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Issues returns every unmapped item, sorted by kind, SKU and id.
func (c *Catalog) Issues() []Issue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.issuesLocked()
}

func (c *Catalog) issuesLocked() []Issue {
	var out []Issue
	for _, it := range c.items {
		switch {
		case it.inherited:
			out = append(out, Issue{Kind: IssueInheritedSKU, SKU: it.sku, ID: it.id, ParentID: it.parent})
		case it.sku == "":
			if it.typ == "variable" || it.typ == "grouped" {
				continue // containers need no SKU
			}
			out = append(out, Issue{Kind: IssueEmptySKU, ID: it.id, ParentID: it.parent})
		case len(c.skus[it.sku]) > 1:
			out = append(out, Issue{Kind: IssueDuplicateSKU, SKU: it.sku, ID: it.id, ParentID: it.parent})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.SKU != b.SKU {
			return a.SKU < b.SKU
		}
		return a.ID < b.ID
	})
	return out
}

func manages(raw json.RawMessage) bool {
	return string(raw) == "true"
}

func newItem(p woo.Product, parentSKU string, isVariation bool) *item {
	it := &item{id: p.ID, parent: p.ParentID, sku: p.SKU, typ: p.Type, manage: manages(p.ManageStock), variations: p.Variations}
	if !isVariation && p.Type != "variation" {
		it.parent = 0
	}
	if it.manage && p.StockQuantity != nil {
		it.qty = *p.StockQuantity
	}
	if it.parent != 0 && it.sku != "" && it.sku == parentSKU {
		it.inherited = true
	}
	return it
}

// Scan reads the whole catalog and replaces the map. Items changed while
// it runs are caught by their webhook or the next scan.
func (c *Catalog) Scan(ctx context.Context) (Report, error) {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	start := time.Now()
	items := map[int64]*item{}
	var rep Report
	var variable []*item
	for page := 1; ; page++ {
		ps, pg, err := c.cfg.API.ListProducts(ctx, wooclient.ProductQuery{Page: page, PerPage: 100, Fields: productFields})
		if err != nil {
			c.metrics.scans.WithLabelValues("error").Inc()
			return rep, fmt.Errorf("scan catalog page %d: %w", page, err)
		}
		for _, p := range ps {
			it := newItem(p, "", false)
			items[it.id] = it
			rep.Products++
			if p.Type == "variable" {
				variable = append(variable, it)
			}
		}
		if page%c.cfg.ProgressEvery == 0 {
			c.log.Info("catalog scan progress", "page", page, "total_pages", pg.TotalPages, "products", rep.Products, "duration", time.Since(start))
		}
		if len(ps) == 0 || page >= pg.TotalPages {
			break
		}
	}
	var mu sync.Mutex
	var done int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Workers)
	for _, parent := range variable {
		g.Go(func() error {
			vs, err := c.readVariations(gctx, parent)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vs {
				items[v.id] = v
			}
			rep.Variations += len(vs)
			done++
			if done%(c.cfg.ProgressEvery*100) == 0 {
				c.log.Info("catalog scan variations progress", "variable_products", done, "total", len(variable), "variations", rep.Variations)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		c.metrics.scans.WithLabelValues("error").Inc()
		return rep, fmt.Errorf("scan catalog variations: %w", err)
	}
	skus := map[string][]int64{}
	for _, it := range items {
		if it.sku != "" && !it.inherited {
			skus[it.sku] = append(skus[it.sku], it.id)
		}
	}
	c.mu.Lock()
	c.items, c.skus, c.ready = items, skus, true
	rep.Issues = c.issuesLocked()
	c.mu.Unlock()
	rep.Mapped = c.Len()
	rep.Duration = time.Since(start)
	c.metrics.scans.WithLabelValues("ok").Inc()
	c.metrics.scanDuration.Observe(rep.Duration.Seconds())
	c.log.Info("catalog scanned", "products", rep.Products, "variations", rep.Variations, "skus", rep.Mapped, "issues", len(rep.Issues), "duration", rep.Duration)
	for _, is := range rep.Issues {
		c.log.Warn("catalog item not mapped", "kind", string(is.Kind), "sku", is.SKU, "product_id", is.ID, "parent_id", is.ParentID)
	}
	return rep, nil
}

// readVariations reads every variation of parent.
func (c *Catalog) readVariations(ctx context.Context, parent *item) ([]*item, error) {
	var out []*item
	for page := 1; ; page++ {
		vs, pg, err := c.cfg.API.ListVariations(ctx, parent.id, page, 100, variationFields)
		if err != nil {
			return nil, fmt.Errorf("read variations of %d: %w", parent.id, err)
		}
		for _, v := range vs {
			v.ParentID = parent.id
			out = append(out, newItem(v, parent.sku, true))
		}
		if len(vs) == 0 || page >= pg.TotalPages {
			return out, nil
		}
	}
}

// Update applies a product or variation as a product.created/updated
// webhook (or a read) shows it. For a variable product whose SKU or
// variation list changed, its variations are re-read.
func (c *Catalog) Update(ctx context.Context, p woo.Product) error {
	if p.ID == 0 {
		return errors.New("update catalog: product without id")
	}
	isVar := p.Type == "variation" || p.ParentID != 0
	var parentSKU string
	if isVar {
		c.mu.RLock()
		if par, ok := c.items[p.ParentID]; ok {
			parentSKU = par.sku
		}
		c.mu.RUnlock()
	}
	it := newItem(p, parentSKU, isVar)
	c.mu.Lock()
	old := c.items[p.ID]
	c.put(it)
	c.mu.Unlock()
	if p.Type == "variable" && (old == nil || old.sku != it.sku || !sameIDs(old.variations, it.variations)) {
		vs, err := c.readVariations(ctx, it)
		if err != nil {
			return fmt.Errorf("update catalog product %d: %w", p.ID, err)
		}
		c.mu.Lock()
		for id, x := range c.items {
			if x.parent == p.ID {
				c.drop(id)
			}
		}
		for _, v := range vs {
			c.put(v)
		}
		c.mu.Unlock()
	}
	return nil
}

func sameIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Refresh re-reads product or variation id from the store and applies it;
// a product that is gone (404) is removed.
func (c *Catalog) Refresh(ctx context.Context, id int64) error {
	p, err := c.cfg.API.GetProduct(ctx, id)
	if err != nil {
		var ae *woo.APIError
		if errors.As(err, &ae) && ae.Data.Status == 404 {
			c.Remove(id)
			return nil
		}
		return fmt.Errorf("refresh catalog product %d: %w", id, err)
	}
	if p.Status == "trash" {
		c.Remove(id)
		return nil
	}
	return c.Update(ctx, p)
}

// Remove forgets a product (and its variations) or a variation, as a
// product.deleted webhook says.
func (c *Catalog) Remove(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for vid, x := range c.items {
		if x.parent == id {
			c.drop(vid)
		}
	}
	c.drop(id)
}

// put replaces the item with it. Caller holds mu.
func (c *Catalog) put(it *item) {
	c.drop(it.id)
	c.items[it.id] = it
	if it.sku != "" && !it.inherited {
		c.skus[it.sku] = append(c.skus[it.sku], it.id)
	}
}

// drop removes item id. Caller holds mu.
func (c *Catalog) drop(id int64) {
	old, ok := c.items[id]
	if !ok {
		return
	}
	delete(c.items, id)
	if old.sku == "" || old.inherited {
		return
	}
	ids := c.skus[old.sku]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(c.skus, old.sku)
	} else {
		c.skus[old.sku] = ids
	}
}

// Run scans now and then every RescanInterval until ctx ends. A failed
// scan is retried with backoff (capped at RescanInterval) and keeps the
// previous map. It returns nil when ctx ends.
func (c *Catalog) Run(ctx context.Context) error {
	retry := backoff.Policy{Min: time.Second, Max: c.cfg.RescanInterval}
	failures := 0
	for {
		wait := c.cfg.RescanInterval
		if _, err := c.Scan(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = retry.Delay(failures)
			failures++
			c.log.Warn("catalog scan failed", "consecutive_errors", failures, "error", err)
		} else {
			if failures > 0 {
				c.log.Info("catalog scan recovered", "consecutive_errors", failures)
			}
			failures = 0
		}
		if backoff.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}
