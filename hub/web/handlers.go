package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// actor is who the ledger records for admin API changes.
const actor = "admin"

func validName(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return hub.FieldErrorf(field, hub.EINVALID, "%s must not be empty.", field)
	}
	if len(v) > 255 {
		return hub.FieldErrorf(field, hub.EINVALID, "%s must be at most 255 bytes.", field)
	}
	return nil
}

func (s *Server) handleSetCount(w http.ResponseWriter, r *http.Request) error {
	sku, loc := r.PathValue("sku"), r.PathValue("location")
	if err := validName("sku", sku); err != nil {
		return err
	} else if err := validName("location", loc); err != nil {
		return err
	}
	var req struct {
		OnHand *int64 `json:"on_hand"`
		Reason string `json:"reason"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	n, err := requireNonNegative("on_hand", req.OnHand)
	if err != nil {
		return err
	}
	reason := req.Reason
	if reason == "" {
		reason = "count"
	}
	st, err := s.Inventory.SetCount(r.Context(), hub.Count{SKU: sku, Location: loc, OnHand: n, Actor: actor, Reason: reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleSetSafetyStock(w http.ResponseWriter, r *http.Request) error {
	sku := r.PathValue("sku")
	if err := validName("sku", sku); err != nil {
		return err
	}
	var req struct {
		SafetyStock *int64 `json:"safety_stock"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	n, err := requireNonNegative("safety_stock", req.SafetyStock)
	if err != nil {
		return err
	}
	st, err := s.Inventory.SetSafetyStock(r.Context(), sku, n, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleAdjust(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SKU            string `json:"sku"`
		Location       string `json:"location"`
		Delta          *int64 `json:"delta"`
		Reason         string `json:"reason"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validName("sku", req.SKU); err != nil {
		return err
	} else if err := validName("location", req.Location); err != nil {
		return err
	} else if req.Delta == nil {
		return hub.FieldErrorf("delta", hub.EINVALID, "delta is required.")
	} else if *req.Delta == 0 {
		return hub.FieldErrorf("delta", hub.EINVALID, "delta must not be zero.")
	} else if len(req.IdempotencyKey) > 255 {
		return hub.FieldErrorf("idempotency_key", hub.EINVALID, "idempotency_key must be at most 255 bytes.")
	}
	reason := req.Reason
	if reason == "" {
		reason = "adjustment"
	}
	e, err := s.Inventory.Adjust(r.Context(), hub.Adjustment{
		SKU: req.SKU, Location: req.Location, Delta: *req.Delta, Reason: reason,
		IdempotencyKey: req.IdempotencyKey, Actor: actor,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) handleGetSKU(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Inventory.Stock(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// SKUList is a page of SKUs; Next is the cursor of the next page, empty at
// the end.
type SKUList struct {
	SKUs []hub.SKUStock `json:"skus"`
	Next string         `json:"next"`
}

func (s *Server) handleListSKUs(w http.ResponseWriter, r *http.Request) error {
	p, err := s.page(r)
	if err != nil {
		return err
	}
	list, err := s.Inventory.ListStock(r.Context(), p)
	if err != nil {
		return err
	}
	out := SKUList{SKUs: list}
	if out.SKUs == nil {
		out.SKUs = []hub.SKUStock{}
	}
	if len(list) == p.Limit {
		out.Next = list[len(list)-1].SKU
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// LedgerList is a page of ledger entries.
type LedgerList struct {
	Entries []hub.LedgerEntry `json:"entries"`
	Next    string            `json:"next"`
}

func (s *Server) handleLedger(w http.ResponseWriter, r *http.Request) error {
	p, err := s.page(r)
	if err != nil {
		return err
	}
	if p.After != "" {
		if n, err := strconv.ParseInt(p.After, 10, 64); err != nil || n < 0 {
			return hub.FieldErrorf("after", hub.EINVALID, "after must be a ledger entry id.")
		}
	}
	list, err := s.Inventory.Ledger(r.Context(), r.URL.Query().Get("sku"), p)
	if err != nil {
		return err
	}
	out := LedgerList{Entries: list}
	if out.Entries == nil {
		out.Entries = []hub.LedgerEntry{}
	}
	if len(list) == p.Limit {
		out.Next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// CreatedStore answers a store creation or enrolment: the store and its
// agent credential, shown this once.
type CreatedStore struct {
	hub.Store
	Token string `json:"token"`
}

func (s *Server) handleCreateStore(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name   string     `json:"name"`
		URL    string     `json:"url"`
		Policy hub.Policy `json:"policy"`
		Buffer *int64     `json:"buffer"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Policy == "" {
		req.Policy = hub.PolicyMirror
	}
	var buf int64
	if req.Buffer != nil {
		var err error
		if buf, err = requireNonNegative("buffer", req.Buffer); err != nil {
			return err
		}
	}
	if err := validateNewStore(req.Name, req.URL, req.Policy); err != nil {
		return err
	}
	st, tok, err := s.Stores.Create(r.Context(), hub.NewStore{Name: req.Name, URL: req.URL, Policy: req.Policy, Buffer: buf})
	if err != nil {
		return err
	}
	s.Logger.Info("store created", "store_id", st.ID)
	writeJSON(w, http.StatusCreated, CreatedStore{Store: st, Token: tok})
	return nil
}

func validateNewStore(name, url string, p hub.Policy) error {
	if err := validName("name", name); err != nil {
		return err
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return hub.FieldErrorf("url", hub.EINVALID, "url must be an http:// or https:// address.")
	}
	if !p.Valid() {
		return hub.FieldErrorf("policy", hub.EINVALID, "policy must be %q or %q.", hub.PolicyMirror, hub.PolicyAllocate)
	}
	return nil
}

// StoreList is every store with its agent state.
type StoreList struct {
	Stores []hub.Store `json:"stores"`
}

func (s *Server) handleListStores(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Stores.Stores(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []hub.Store{}
	}
	writeJSON(w, http.StatusOK, StoreList{Stores: list})
	return nil
}

func (s *Server) handleGetStore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := s.Stores.Store(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleUpdateStore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Policy     *hub.Policy `json:"policy"`
		Buffer     *int64      `json:"buffer"`
		Allocation *struct {
			LowWater     *int64 `json:"low_water"`
			MinGrant     *int64 `json:"min_grant"`
			MaxGrant     *int64 `json:"max_grant"`
			CoverSeconds *int64 `json:"cover_seconds"`
			IdleSeconds  *int64 `json:"idle_seconds"`
		} `json:"allocation"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Policy != nil && !req.Policy.Valid() {
		return hub.FieldErrorf("policy", hub.EINVALID, "policy must be %q or %q.", hub.PolicyMirror, hub.PolicyAllocate)
	}
	if req.Buffer != nil && *req.Buffer < 0 {
		return hub.FieldErrorf("buffer", hub.EINVALID, "buffer must not be negative.")
	}
	if req.Allocation != nil && s.Allocation == nil {
		return hub.FieldErrorf("allocation", hub.EINVALID, "This hub does not run the allocate policy.")
	}
	cur, err := s.Stores.Store(r.Context(), id)
	if err != nil {
		return err
	}
	set := hub.StoreSettings{Policy: cur.Policy, Buffer: cur.Buffer, Allocation: cur.Allocation}
	if req.Policy != nil {
		set.Policy = *req.Policy
	}
	if req.Buffer != nil {
		set.Buffer = *req.Buffer
	}
	if a := req.Allocation; a != nil {
		for _, f := range []struct {
			in  *int64
			out *int64
		}{{a.LowWater, &set.Allocation.LowWater}, {a.MinGrant, &set.Allocation.MinGrant}, {a.MaxGrant, &set.Allocation.MaxGrant},
			{a.CoverSeconds, &set.Allocation.CoverSeconds}, {a.IdleSeconds, &set.Allocation.IdleSeconds}} {
			if f.in != nil {
				*f.out = *f.in
			}
		}
		if err := set.Allocation.Validate(); err != nil {
			return err
		}
	}
	var st hub.Store
	if s.Allocation != nil {
		st, err = s.Allocation.Configure(r.Context(), id, set)
	} else {
		st, err = s.Stores.Update(r.Context(), id, set.Policy, set.Buffer)
	}
	if err != nil {
		return err
	}
	if set.Policy != cur.Policy {
		s.Logger.Info("store policy changed", "store_id", id, "from", cur.Policy, "to", set.Policy)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleRevokeStore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Stores.Revoke(r.Context(), id); err != nil {
		return err
	}
	s.Logger.Info("store revoked", "store_id", id)
	if s.OnRevoke != nil {
		s.OnRevoke(id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// MaxEnrolmentTTL bounds how long a join token lives.
const MaxEnrolmentTTL = 30 * 24 * time.Hour

// EnrolmentToken is a one-use join token.
type EnrolmentToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) handleCreateEnrolmentToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		TTLSeconds *int64 `json:"ttl_seconds"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	ttl := time.Hour
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 1 || *req.TTLSeconds > int64(MaxEnrolmentTTL/time.Second) {
			return hub.FieldErrorf("ttl_seconds", hub.EINVALID, "ttl_seconds must be from 1 to %d.", int64(MaxEnrolmentTTL/time.Second))
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	tok, exp, err := s.Stores.CreateEnrolmentToken(r.Context(), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, EnrolmentToken{Token: tok, ExpiresAt: exp.UTC()})
	return nil
}

func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) error {
	tok, ok := bearer(r)
	if !ok {
		return hub.Errorf(hub.EUNAUTHORIZED, "Authorization: Bearer <join token> is required.")
	}
	var req struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validateNewStore(req.Name, req.URL, hub.PolicyMirror); err != nil {
		return err
	}
	st, cred, err := s.Stores.Enrol(r.Context(), tok, hub.NewStore{Name: req.Name, URL: req.URL, Policy: hub.PolicyMirror})
	if err != nil {
		return err
	}
	s.Logger.Info("store enrolled", "store_id", st.ID)
	writeJSON(w, http.StatusCreated, CreatedStore{Store: st, Token: cred})
	return nil
}

// OrderList is a page of the order feed.
type OrderList struct {
	Orders []hub.Order `json:"orders"`
	Next   string      `json:"next"`
}

func (s *Server) handleListOrders(w http.ResponseWriter, r *http.Request) error {
	p, err := s.page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Orders.Orders(r.Context(), p)
	if err != nil {
		return err
	}
	if list == nil {
		list = []hub.Order{}
	}
	if next == "" {
		// An empty page keeps the caller's cursor so polling can resume.
		next = p.After
	}
	writeJSON(w, http.StatusOK, OrderList{Orders: list, Next: next})
	return nil
}

func (s *Server) handleFulfil(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	o, err := s.Orders.Fulfil(r.Context(), id, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}
