// Package catalog holds the agent's one SKU map (Map: SKU → product or
// variation id) and the full scan that fills it in the background. The
// scan pages through every product (100 per page, with _fields) and the
// variations of variable products, logs its progress, and reports what it
// will not guess about: items without a SKU, SKUs held by more than one
// item, and variations without a SKU of their own (WooCommerce shows the
// parent's SKU for them). Product webhooks keep the map fresh between
// rescans (Update, Remove), and the stock writer records there what its
// own reads by SKU find, so it never waits for the scan.
//
// It leaves stock figures and writes to agent/stock, which reads them
// fresh before it writes.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
}

var _ API = (*wooclient.Client)(nil)

// Fields requested when listing products and variations.
var (
	productFields   = []string{"id", "parent_id", "sku", "type", "manage_stock", "stock_quantity", "variations"}
	variationFields = []string{"id", "parent_id", "sku", "manage_stock", "stock_quantity"}
)

// Report summarises a full scan.
type Report struct {
	Products   int // top-level products read
	Variations int // variations read
	Mapped     int // SKUs mapped
	Issues     []Issue
	Duration   time.Duration
}

// Config configures a Catalog. API is required.
type Config struct {
	API API
	// Map is the SKU map the scan fills. Defaults to a new one.
	Map *Map
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

// Catalog is the SKU map with the scan that fills it. It is safe for
// concurrent use.
type Catalog struct {
	*Map
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	scanMu  sync.Mutex // one full scan at a time
}

// New returns a catalog over cfg.Map (a new, empty one by default); call
// Scan or Run to fill it.
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
	if cfg.Map == nil {
		cfg.Map = NewMap()
	}
	c := &Catalog{Map: cfg.Map, cfg: cfg, log: cfg.Logger}
	m, err := newMetrics(cfg.Registerer, c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Scan reads the whole catalog into the map and then forgets the items it
// did not read, keeping what webhooks and reads by SKU changed meanwhile
// (it is newer). It applies each page to the map in use as it reads it,
// rather than building a second map beside it: a store of 100,000 SKUs
// would hold both at the end of the scan. It logs progress every
// ProgressEvery pages and at the end, with counts.
func (c *Catalog) Scan(ctx context.Context) (Report, error) {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	start := time.Now()
	c.log.Info("catalog scan started")
	c.scanStarted()
	c.metrics.scanRead.Set(0)
	var rep Report
	fail := func(err error) (Report, error) {
		c.scanFailed()
		c.metrics.scans.WithLabelValues("error").Inc()
		return rep, err
	}
	var variable []*item
	for page := 1; ; page++ {
		ps, pg, err := c.cfg.API.ListProducts(ctx, wooclient.ProductQuery{Page: page, PerPage: 100, Fields: productFields})
		if err != nil {
			return fail(fmt.Errorf("scan catalog page %d: %w", page, err))
		}
		read := make([]*item, len(ps))
		for i, p := range ps {
			read[i] = newItem(p, "", false)
			if p.Type == "variable" {
				variable = append(variable, read[i])
			}
		}
		c.scanned(read)
		rep.Products += len(ps)
		c.metrics.scanRead.Add(float64(len(ps)))
		if page%c.cfg.ProgressEvery == 0 {
			c.log.Info("catalog scan progress", "page", page, "total_pages", pg.TotalPages, "products", rep.Products,
				"skus", c.Len(), "duration", time.Since(start))
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
			c.scanned(vs)
			mu.Lock()
			defer mu.Unlock()
			rep.Variations += len(vs)
			c.metrics.scanRead.Add(float64(len(vs)))
			done++
			if done%(c.cfg.ProgressEvery*100) == 0 {
				c.log.Info("catalog scan variations progress", "variable_products", done, "total", len(variable), "variations", rep.Variations)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fail(fmt.Errorf("scan catalog variations: %w", err))
	}
	rep.Issues = c.scanDone()
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
	c.mu.Lock()
	it := c.itemOf(p)
	old := c.items[p.ID]
	c.put(it)
	c.mu.Unlock()
	if p.Type == "variable" && (old == nil || old.sku != it.sku || old.variations != it.variations) {
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

// Run scans now and then every RescanInterval until ctx ends. A failed
// scan is retried with backoff (capped at RescanInterval); the map keeps
// what it had and what the failed scan read. It returns nil when ctx ends.
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
