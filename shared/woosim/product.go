// The product model: products and variations, WooCommerce's stock status
// rules, and how writes, new products and deletes change the catalog.

package woosim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
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
// caller validated in and holds s.mu.
func (s *Store) applyInput(p *product, in *productInput, now time.Time) *apiErr {
	if in.SKU != nil && *in.SKU != p.SKU {
		if e := s.checkSKU(*in.SKU, p.ID); e != nil {
			return e
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
		p.ManageStock, _ = parseBool(in.ManageStock)
	}
	if p.ManageStock {
		if len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" {
			v, _ := parseInt(in.StockQuantity)
			p.Stock = v
		} else if len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" {
			d, _ := parseInt(in.InventoryDelta)
			p.Stock += d
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
		p.Meta = s.upsertMeta(p.Meta, m)
	}
	s.touch(p, now)
	return nil
}

// upsertMeta applies m to meta as WC_Data::update_meta_data does (by id,
// else by key; a null value deletes) and returns the new list.
func (s *Store) upsertMeta(meta []metaEntry, m metaInput) []metaEntry {
	val := m.Value
	if len(val) == 0 {
		val = json.RawMessage(`""`)
	}
	for i := range meta {
		if m.ID != 0 && meta[i].ID == m.ID || m.ID == 0 && meta[i].Key == m.Key {
			if string(val) == "null" {
				return append(meta[:i], meta[i+1:]...)
			}
			meta[i].Value = val
			if m.Key != "" {
				meta[i].Key = m.Key
			}
			return meta
		}
	}
	if string(val) == "null" || m.Key == "" {
		return meta
	}
	s.nextMeta++
	return append(meta, metaEntry{ID: s.nextMeta, Key: m.Key, Value: val})
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
	if err := s.applyInput(p, in, now); err != nil {
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

// deleteProduct trashes or (force) removes p. Caller holds s.mu.
func (s *Store) deleteProduct(p *product, force bool) {
	if !force {
		if p.SKU != "" && s.skus[p.SKU] == p.ID {
			delete(s.skus, p.SKU)
		}
		if p.ParentID == 0 && p.Status != "trash" {
			s.topTrashed++
		}
		p.Status = "trash"
		p.Modified = s.opts.Now()
		s.fire(woo.TopicProductDeleted, p.ID)
		return
	}
	for _, vid := range p.Variations {
		if v := s.products[vid]; v != nil {
			s.removeProduct(v)
		}
	}
	if par := s.products[p.ParentID]; par != nil {
		par.Variations = removeID(par.Variations, p.ID)
		s.touch(par, s.opts.Now())
	}
	s.removeProduct(p)
}

func (s *Store) removeProduct(p *product) {
	if p.SKU != "" && s.skus[p.SKU] == p.ID {
		delete(s.skus, p.SKU)
	}
	delete(s.products, p.ID)
	if p.ParentID == 0 && p.Status == "trash" {
		s.topTrashed--
	}
	if p.ParentID == 0 {
		s.topIDs = removeID(s.topIDs, p.ID)
	}
}
