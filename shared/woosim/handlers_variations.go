// REST handlers of /products/{pid}/variations and GET /variations.

package woosim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

func (s *Store) parentOf(q *request) (*product, *apiErr) {
	pid := pathID(q.r, "pid")
	p := s.products[pid]
	if p == nil || p.Type == "variation" {
		return nil, newErr(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
	}
	return p, nil
}

func (s *Store) handleVariationList(w http.ResponseWriter, q *request) *apiErr {
	qv := q.r.URL.Query()
	pp, e := parsePage(qv, "date")
	if e != nil {
		return e
	}
	after, e := parseDateParam(qv, "modified_after")
	if e != nil {
		return e
	}
	skus := map[string]bool{}
	for sku := range strings.SplitSeq(qv.Get("sku"), ",") {
		if sku != "" {
			skus[sku] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	par, e := s.parentOf(q)
	if e != nil {
		return e
	}
	var items []listItem
	for _, vid := range par.Variations {
		v := s.products[vid]
		if v == nil || v.Status == "trash" {
			continue
		}
		if len(skus) > 0 && !skus[v.SKU] {
			continue
		}
		if after != nil && !v.Modified.Truncate(time.Second).After(*after) {
			continue
		}
		items = append(items, listItem{id: v.ID, created: v.Created, modified: v.Modified, title: v.Name})
	}
	ids := s.paginate(w, q, items, pp, nil)
	out := make([]*variationJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.variationView(s.products[id]))
	}
	s.writeOKLocked(w, q, http.StatusOK, out)
	return nil
}

func (s *Store) handleVariationGet(w http.ResponseWriter, q *request) *apiErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	par, e := s.parentOf(q)
	if e != nil {
		return e
	}
	v := s.products[pathID(q.r, "id")]
	if v == nil || v.ParentID != par.ID {
		return newErr(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
	}
	s.writeOKLocked(w, q, http.StatusOK, s.variationView(v))
	return nil
}

func (s *Store) createVariation(parentID int64, raw []byte, q *request) (any, *apiErr) {
	var in productInput
	if q != nil {
		if e := decodeBody(q, &in); e != nil {
			return nil, e
		}
	} else if err := json.Unmarshal(raw, &in); err != nil {
		return nil, newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
	}
	if e := validateProductInput(&in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	par := s.products[parentID]
	if par == nil || par.Type == "variation" {
		return nil, newErr(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
	}
	v, e := s.newProduct(&in, par, s.opts.Now())
	if e != nil {
		return nil, e
	}
	s.fire(woo.TopicProductCreated, v.ID)
	return s.variationView(v), nil
}

func (s *Store) handleVariationCreate(w http.ResponseWriter, q *request) *apiErr {
	v, e := s.createVariation(pathID(q.r, "pid"), nil, q)
	if e != nil {
		return e
	}
	s.writeOK(w, q, http.StatusCreated, v)
	return nil
}

func (s *Store) handleVariationUpdate(w http.ResponseWriter, q *request) *apiErr {
	pid, id := pathID(q.r, "pid"), pathID(q.r, "id")
	var in productInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.changesStock() {
		s.stockWriteArrived([]string{s.skuOf(id)})
	}
	p, e := s.updateProduct(id, pid, &in, 400)
	if e != nil {
		return e
	}
	s.mu.Lock()
	v := s.variationView(p)
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusOK, v)
	return nil
}

func (s *Store) handleVariationDelete(w http.ResponseWriter, q *request) *apiErr {
	if !forceParam(q) {
		return newErr(501, "woocommerce_rest_trash_not_supported", "Variations do not support trashing.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	par, e := s.parentOf(q)
	if e != nil {
		return e
	}
	v := s.products[pathID(q.r, "id")]
	if v == nil || v.ParentID != par.ID {
		return newErr(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
	}
	view := s.variationView(v)
	s.deleteProduct(v, true)
	s.writeOKLocked(w, q, http.StatusOK, view)
	return nil
}

func (s *Store) handleVariationBatch(w http.ResponseWriter, q *request) *apiErr {
	pid := pathID(q.r, "pid")
	s.mu.Lock()
	_, e := s.parentOf(q)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	s.stockWriteArrived(s.batchStockSKUs(q.body))
	return s.batch(w, q,
		func(raw json.RawMessage) (any, *apiErr) { return s.createVariation(pid, raw, nil) },
		func(id int64, raw json.RawMessage) (any, *apiErr) {
			var in productInput
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
			}
			p, e := s.updateProduct(id, pid, &in, 400)
			if e != nil {
				return nil, e
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.variationView(p), nil
		},
		func(id int64) (any, *apiErr) {
			s.mu.Lock()
			defer s.mu.Unlock()
			v := s.products[id]
			if v == nil || v.ParentID != pid {
				return nil, newErr(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
			}
			view := s.variationView(v)
			s.deleteProduct(v, true)
			return view, nil
		})
}

// handleAllVariations is GET /variations (WooCommerce 10.3+): every
// variation, with parent_id.
func (s *Store) handleAllVariations(w http.ResponseWriter, q *request) *apiErr {
	qv := q.r.URL.Query()
	pp, e := parsePage(qv, "date")
	if e != nil {
		return e
	}
	after, e := parseDateParam(qv, "modified_after")
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []listItem
	for _, pid := range s.topIDs {
		for _, vid := range s.products[pid].Variations {
			v := s.products[vid]
			if v == nil || v.Status == "trash" {
				continue
			}
			if after != nil && !v.Modified.Truncate(time.Second).After(*after) {
				continue
			}
			items = append(items, listItem{id: v.ID, created: v.Created, modified: v.Modified, title: v.Name})
		}
	}
	ids := s.paginate(w, q, items, pp, nil)
	out := make([]*variationJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.variationView(s.products[id]))
	}
	s.writeOKLocked(w, q, http.StatusOK, out)
	return nil
}
