package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// skusData feeds skus.html: the search and, when one SKU is chosen, its
// figures.
type skusData struct {
	Query   string
	Matches []string
	SKU     *skuDetail
}

// skuDetail is one SKU's figures.
type skuDetail struct {
	hub.SKUStock
	Locations []locationFigure
	Stores    []storeFigure
	Chart     chart
}

type locationFigure struct {
	Name   string
	OnHand int64
}

// storeFigure is what one store should show of the SKU. Allocated is set
// for allocate stores: the units granted to it.
type storeFigure struct {
	Name      string
	Policy    hub.Policy
	Target    int64
	Allocated *int64
}

// searchLimit bounds the SKUs a search lists.
const searchLimit = 50

func (c *Console) skusPage(r *http.Request, s session) (string, any, error) {
	ctx := r.Context()
	d := skusData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	var err error
	if d.Matches, err = c.Queries.SearchSKUs(ctx, d.Query, searchLimit); err != nil {
		return "", nil, err
	}
	sku := r.URL.Query().Get("sku")
	if sku == "" && len(d.Matches) == 1 {
		sku = d.Matches[0]
	}
	if sku != "" {
		if d.SKU, err = c.skuDetail(r, sku); err != nil {
			return "", nil, err
		}
	}
	return "skus", d, nil
}

func (c *Console) skuDetail(r *http.Request, sku string) (*skuDetail, error) {
	ctx := r.Context()
	st, err := c.Inventory.Stock(ctx, sku)
	if err != nil {
		return nil, err
	}
	stores, err := c.Stores.Stores(ctx)
	if err != nil {
		return nil, err
	}
	d := &skuDetail{SKUStock: st}
	for name, n := range st.Locations {
		d.Locations = append(d.Locations, locationFigure{Name: name, OnHand: n})
	}
	slices.SortFunc(d.Locations, func(a, b locationFigure) int { return strings.Compare(a.Name, b.Name) })
	for _, store := range stores {
		key := strconv.FormatInt(store.ID, 10)
		target, ok := st.Targets[key]
		if !ok {
			continue
		}
		f := storeFigure{Name: store.Name, Policy: store.Policy, Target: target}
		if a, ok := st.Allocated[key]; ok {
			f.Allocated = &a
		}
		d.Stores = append(d.Stores, f)
	}
	now := c.Now()
	entries, err := c.Queries.LedgerSince(ctx, sku, now.Add(-chartSpan))
	if err != nil {
		return nil, err
	}
	d.Chart = availableChart(st.Available, entries, now)
	return d, nil
}

// chartSpan is how far back the SKU chart reaches.
const chartSpan = 24 * time.Hour
