// Handlers of the /sim/ API: storefront checkout, admin edits, order status,
// faults, stats and the webhook flush.

package woosim

import (
	"encoding/json"
	"errors"
	"net/http"
)

func simError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "data": map[string]any{"status": status}})
}

func readSimJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		simError(w, http.StatusBadRequest, "invalid_json", "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Store) simCheckout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		LineItems []CheckoutLine `json:"line_items"`
	}
	status := http.StatusCreated
	defer func() { s.countRequest("POST /sim/checkout", status) }()
	if !readSimJSON(w, r, &in) {
		status = http.StatusBadRequest
		return
	}
	id, err := s.Checkout(in.LineItems)
	switch {
	case errors.Is(err, ErrOutOfStock):
		status = http.StatusConflict
		simError(w, status, "out_of_stock", err.Error())
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
		simError(w, status, "unknown_sku", err.Error())
	case err != nil:
		status = http.StatusBadRequest
		simError(w, status, "invalid", err.Error())
	default:
		writeJSON(w, status, map[string]any{"order_id": id})
	}
}

func (s *Store) simAdminEdit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU           string `json:"sku"`
		StockQuantity *int64 `json:"stock_quantity"`
	}
	if !readSimJSON(w, r, &in) {
		return
	}
	if in.SKU == "" || in.StockQuantity == nil {
		simError(w, http.StatusBadRequest, "invalid", "sku and stock_quantity are required")
		return
	}
	if err := s.AdminEdit(in.SKU, *in.StockQuantity); err != nil {
		simError(w, http.StatusNotFound, "unknown_sku", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sku": in.SKU, "stock_quantity": *in.StockQuantity})
}

func (s *Store) simOrderStatus(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if !readSimJSON(w, r, &in) {
		return
	}
	if err := s.SetOrderStatus(in.ID, in.Status); err != nil {
		st := http.StatusBadRequest
		if errors.Is(err, ErrNotFound) {
			st = http.StatusNotFound
		}
		simError(w, st, "invalid", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": in.ID, "status": in.Status})
}

func (s *Store) simFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var f Faults
		if !readSimJSON(w, r, &f) {
			return
		}
		if f.ErrorRate < 0 || f.ErrorRate > 1 || f.TimeoutRate < 0 || f.TimeoutRate > 1 || f.DropWebhookRate < 0 || f.DropWebhookRate > 1 ||
			f.RateLimitRate < 0 || f.RateLimitRate > 1 ||
			f.LatencyMS < 0 || f.WebhookDelayMS < 0 || f.RaceWindowMS < 0 || f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
			simError(w, http.StatusBadRequest, "invalid", "rates must be within 0..1, durations ≥ 0, error_status 400..599")
			return
		}
		s.SetFaults(f)
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Store) simStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Store) simFlush(w http.ResponseWriter, r *http.Request) {
	s.FlushWebhooks()
	writeJSON(w, http.StatusOK, map[string]any{"flushed": true})
}
