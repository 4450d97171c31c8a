// REST handlers of /products, and the stock-write hook they and the
// variation handlers report to.

package woosim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

var productStatuses = map[string]bool{"any": true, "draft": true, "pending": true, "private": true, "publish": true, "future": true, "trash": true}

func invalidProductID(status int) *apiErr {
	return newErr(status, "woocommerce_rest_product_invalid_id", "Invalid ID.")
}

func (s *Store) handleProductList(w http.ResponseWriter, q *request) *apiErr {
	qv := q.r.URL.Query()
	pp, e := parsePage(qv, "date")
	if e != nil {
		return e
	}
	after, e := parseDateParam(qv, "modified_after")
	if e != nil {
		return e
	}
	before, e := parseDateParam(qv, "modified_before")
	if e != nil {
		return e
	}
	cAfter, e := parseDateParam(qv, "after")
	if e != nil {
		return e
	}
	cBefore, e := parseDateParam(qv, "before")
	if e != nil {
		return e
	}
	statuses := map[string]bool{}
	for st := range strings.SplitSeq(qv.Get("status"), ",") {
		if st == "" {
			continue
		}
		if !productStatuses[st] {
			return invalidParam("status", "status is not one of any, future, trash, draft, pending, private, and publish.")
		}
		statuses[st] = true
	}
	if len(statuses) == 0 || statuses["any"] {
		statuses = nil
	}
	typ := qv.Get("type")
	if typ != "" && typ != "simple" && typ != "grouped" && typ != "external" && typ != "variable" {
		return invalidParam("type", "type is not one of simple, grouped, external, and variable.")
	}
	include := parseIDs(qv.Get("include"))
	exclude := parseIDs(qv.Get("exclude"))
	stockStatus := qv.Get("stock_status")
	search := strings.ToLower(qv.Get("search"))

	s.mu.Lock()
	noFilter := qv.Get("sku") == "" && len(include) == 0 && len(exclude) == 0 && statuses == nil && typ == "" &&
		stockStatus == "" && search == "" && after == nil && before == nil && cAfter == nil && cBefore == nil &&
		(pp.orderby == "date" || pp.orderby == "id") && s.topOrdered && s.topTrashed == 0
	if noFilter {
		// Fast path: topIDs are already in (date, id) order with nothing to skip.
		items := make([]listItem, len(s.topIDs))
		for i, id := range s.topIDs {
			items[i].id = id
		}
		pp.orderby = "id"
		ids := s.paginate(w, q, items, pp, nil)
		out := make([]*productJSON, 0, len(ids))
		for _, id := range ids {
			out = append(out, s.productView(s.products[id]))
		}
		s.mu.Unlock()
		s.writeOK(w, q, http.StatusOK, out)
		return nil
	}
	var cands []*product
	if skus := qv.Get("sku"); skus != "" {
		seen := map[int64]bool{}
		for sku := range strings.SplitSeq(skus, ",") {
			if id, ok := s.skus[strings.TrimSpace(sku)]; ok && !seen[id] {
				seen[id] = true
				cands = append(cands, s.products[id])
			}
		}
	} else if len(include) > 0 {
		for _, id := range include {
			if p := s.products[id]; p != nil && p.Type != "variation" {
				cands = append(cands, p)
			}
		}
	} else {
		cands = make([]*product, 0, len(s.topIDs))
		for _, id := range s.topIDs {
			cands = append(cands, s.products[id])
		}
	}
	items := make([]listItem, 0, len(cands))
	for _, p := range cands {
		if statuses == nil && p.Status == "trash" || statuses != nil && !statuses[p.Status] {
			continue
		}
		if typ != "" && p.Type != typ {
			continue
		}
		if len(exclude) > 0 && containsID(exclude, p.ID) {
			continue
		}
		if stockStatus != "" && p.StockStatus != stockStatus {
			continue
		}
		mod := p.Modified.Truncate(time.Second)
		if after != nil && !mod.After(*after) || before != nil && !mod.Before(*before) {
			continue
		}
		cr := p.Created.Truncate(time.Second)
		if cAfter != nil && !cr.After(*cAfter) || cBefore != nil && !cr.Before(*cBefore) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(p.Name), search) {
			continue
		}
		items = append(items, listItem{id: p.ID, created: p.Created, modified: p.Modified, title: p.Name})
	}
	ids := s.paginate(w, q, items, pp, include)
	out := make([]*productJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.productView(s.products[id]))
	}
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusOK, out)
	return nil
}

func (s *Store) handleProductGet(w http.ResponseWriter, q *request) *apiErr {
	id := pathID(q.r, "id")
	s.mu.Lock()
	p := s.products[id]
	if p == nil {
		s.mu.Unlock()
		return invalidProductID(404)
	}
	v := s.productView(p)
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusOK, v)
	return nil
}

func (s *Store) handleProductCreate(w http.ResponseWriter, q *request) *apiErr {
	var in productInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.Name == nil {
		return newErr(400, "rest_missing_callback_param", "Missing parameter(s): name")
	}
	if e := validateProductInput(&in); e != nil {
		return e
	}
	s.mu.Lock()
	p, e := s.newProduct(&in, nil, s.opts.Now())
	if e != nil {
		s.mu.Unlock()
		return e
	}
	s.fire(woo.TopicProductCreated, p.ID)
	v := s.productEditView(p)
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusCreated, v)
	return nil
}

// stockWriteArrived notes a write carrying stock fields for SetOnStockWrite's hook.
func (s *Store) stockWriteArrived(skus []string) {
	if len(skus) == 0 {
		return
	}
	s.mu.Lock()
	s.stats.StockWrites++
	s.mu.Unlock()
	if f := s.onStockWrite.Load(); f != nil {
		(*f)(skus, time.Now())
	}
}

func (s *Store) skuOf(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.products[id]; p != nil {
		return s.visibleSKU(p)
	}
	return ""
}

// updateProduct applies in to product id (a variation when parent > 0).
// It opens the race window fault when set. Caller does not hold s.mu.
func (s *Store) updateProduct(id, parent int64, in *productInput, status int) (*product, *apiErr) {
	if e := validateProductInput(in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	p := s.products[id]
	if p == nil || parent == 0 && p.Type == "variation" || parent > 0 && p.ParentID != parent {
		s.mu.Unlock()
		if p != nil && parent == 0 {
			return nil, newErr(404, "woocommerce_rest_invalid_product_id", "To manipulate product variations you should use the /products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.")
		}
		if parent > 0 {
			return nil, newErr(status, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
		}
		return nil, invalidProductID(status)
	}
	if rw := s.faults.RaceWindowMS; rw > 0 && p.ManageStock && len(in.InventoryDelta) > 0 && len(in.StockQuantity) == 0 {
		// WooCommerce reads the stock, computes, and saves later.
		read := p.Stock
		hook := s.raceReadHook
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		time.Sleep(time.Duration(rw) * time.Millisecond) // simulated PHP window, not synchronization
		d, _ := parseInt(in.InventoryDelta)
		in.StockQuantity = json.RawMessage(itoa(read + d))
		in.InventoryDelta = nil
		s.mu.Lock()
		if p = s.products[id]; p == nil {
			s.mu.Unlock()
			return nil, invalidProductID(status)
		}
	}
	wasTrash := p.Status == "trash"
	if e := s.applyInput(p, in, s.opts.Now()); e != nil {
		s.mu.Unlock()
		return nil, e
	}
	if wasTrash && p.Status != "trash" {
		s.fire("product.restored", p.ID)
	}
	s.fire(woo.TopicProductUpdated, p.ID)
	s.mu.Unlock()
	return p, nil
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (s *Store) handleProductUpdate(w http.ResponseWriter, q *request) *apiErr {
	id := pathID(q.r, "id")
	var in productInput
	if e := decodeBody(q, &in); e != nil {
		return e
	}
	if in.changesStock() {
		s.stockWriteArrived([]string{s.skuOf(id)})
	}
	p, e := s.updateProduct(id, 0, &in, 400)
	if e != nil {
		return e
	}
	s.mu.Lock()
	v := s.productEditView(p)
	s.mu.Unlock()
	s.writeOK(w, q, http.StatusOK, v)
	return nil
}

func (s *Store) handleProductDelete(w http.ResponseWriter, q *request) *apiErr {
	id := pathID(q.r, "id")
	force := forceParam(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.products[id]
	if p == nil {
		return invalidProductID(404)
	}
	if !force && p.Status == "trash" {
		return newErr(410, "woocommerce_rest_already_trashed", "The product has already been deleted.")
	}
	s.deleteProduct(p, force)
	v := s.productView(p)
	s.writeOKLocked(w, q, http.StatusOK, v)
	return nil
}

// batchStockSKUs lists the SKUs of update items carrying stock fields.
func (s *Store) batchStockSKUs(body []byte) []string {
	var b batchBody
	if json.Unmarshal(body, &b) != nil || len(b.Update) > 100 {
		return nil
	}
	var skus []string
	for _, raw := range b.Update {
		var in productInput
		if json.Unmarshal(raw, &in) != nil || in.ID == nil || !in.changesStock() {
			continue
		}
		skus = append(skus, s.skuOf(*in.ID))
	}
	return skus
}

func (s *Store) handleProductBatch(w http.ResponseWriter, q *request) *apiErr {
	s.stockWriteArrived(s.batchStockSKUs(q.body))
	return s.batch(w, q,
		func(raw json.RawMessage) (any, *apiErr) {
			var in productInput
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
			}
			if e := validateProductInput(&in); e != nil {
				return nil, e
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			p, e := s.newProduct(&in, nil, s.opts.Now())
			if e != nil {
				return nil, e
			}
			s.fire(woo.TopicProductCreated, p.ID)
			return s.productEditView(p), nil
		},
		func(id int64, raw json.RawMessage) (any, *apiErr) {
			var in productInput
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
			}
			p, e := s.updateProduct(id, 0, &in, 400)
			if e != nil {
				return nil, e
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.productEditView(p), nil
		},
		func(id int64) (any, *apiErr) {
			s.mu.Lock()
			defer s.mu.Unlock()
			p := s.products[id]
			if p == nil || p.Type == "variation" {
				return nil, invalidProductID(404)
			}
			v := s.productView(p)
			s.deleteProduct(p, true)
			return v, nil
		})
}
