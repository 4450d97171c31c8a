package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// actor is who the ledger records for admin API changes.
const actor = "admin"

func (s *Server) handleSetCount(w http.ResponseWriter, r *http.Request) error {
	sku, loc := r.PathValue("sku"), r.PathValue("location")
	if err := hub.ValidateName("sku", sku); err != nil {
		return err
	} else if err := hub.ValidateName("location", loc); err != nil {
		return err
	}
	var req hubapi.CountRequest
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
	writeJSON(w, http.StatusOK, apiSKUStock(st))
	return nil
}

func (s *Server) handleSetSafetyStock(w http.ResponseWriter, r *http.Request) error {
	sku := r.PathValue("sku")
	if err := hub.ValidateName("sku", sku); err != nil {
		return err
	}
	var req hubapi.SafetyStockRequest
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
	writeJSON(w, http.StatusOK, apiSKUStock(st))
	return nil
}

func (s *Server) handleAdjust(w http.ResponseWriter, r *http.Request) error {
	var req hubapi.AdjustmentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := hub.ValidateName("sku", req.SKU); err != nil {
		return err
	} else if err := hub.ValidateName("location", req.Location); err != nil {
		return err
	} else if req.Delta == nil {
		return hub.FieldErrorf("delta", hub.EINVALID, "delta is required.")
	} else if *req.Delta == 0 {
		return hub.FieldErrorf("delta", hub.EINVALID, "delta must not be zero.")
	} else if err := hub.ValidateIdempotencyKey(req.IdempotencyKey); err != nil {
		return err
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
	writeJSON(w, http.StatusOK, apiLedgerEntry(e))
	return nil
}

func (s *Server) handleGetSKU(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Inventory.Stock(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiSKUStock(st))
	return nil
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
	out := hubapi.SKUList{SKUs: apiList(list, apiSKUStock)}
	if len(list) == p.Limit {
		out.Next = list[len(list)-1].SKU
	}
	writeJSON(w, http.StatusOK, out)
	return nil
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
	out := hubapi.LedgerList{Entries: apiList(list, apiLedgerEntry)}
	if len(list) == p.Limit {
		out.Next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateStore(w http.ResponseWriter, r *http.Request) error {
	var req hubapi.NewStoreRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	policy := hub.Policy(req.Policy)
	if policy == "" {
		policy = hub.PolicyMirror
	}
	var buf int64
	if req.Buffer != nil {
		var err error
		if buf, err = requireNonNegative("buffer", req.Buffer); err != nil {
			return err
		}
	}
	ns := hub.NewStore{Name: req.Name, URL: req.URL, Policy: policy, Buffer: buf}
	if err := ns.Validate(); err != nil {
		return err
	}
	st, tok, err := s.Stores.Create(r.Context(), ns)
	if err != nil {
		return err
	}
	s.Logger.Info("store created", "store_id", st.ID)
	writeJSON(w, http.StatusCreated, hubapi.CreatedStore{Store: apiStore(st), Token: tok})
	return nil
}

func (s *Server) handleListStores(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Stores.Stores(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.StoreList{Stores: apiList(list, apiStore)})
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
	writeJSON(w, http.StatusOK, apiStore(st))
	return nil
}

func (s *Server) handleUpdateStore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req hubapi.StoreUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Policy != nil && !hub.Policy(*req.Policy).Valid() {
		return hub.FieldErrorf("policy", hub.EINVALID, "policy must be %q or %q.", hub.PolicyMirror, hub.PolicyAllocate)
	}
	if req.Buffer != nil && *req.Buffer < 0 {
		return hub.FieldErrorf("buffer", hub.EINVALID, "buffer must not be negative.")
	}
	if req.EditLocation != nil {
		if err := hub.ValidateName("edit_location", *req.EditLocation); err != nil {
			return err
		}
	}
	cur, err := s.Stores.Store(r.Context(), id)
	if err != nil {
		return err
	}
	set := hub.StoreSettings{Policy: cur.Policy, Buffer: cur.Buffer, Allocation: cur.Allocation, EditLocation: cur.EditLocation}
	if req.EditLocation != nil {
		set.EditLocation = *req.EditLocation
	}
	if req.Policy != nil {
		set.Policy = hub.Policy(*req.Policy)
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
	st, err := s.Allocation.Configure(r.Context(), id, set)
	if err != nil {
		return err
	}
	if set.Policy != cur.Policy {
		s.Logger.Info("store policy changed", "store_id", id, "from", cur.Policy, "to", set.Policy)
	}
	writeJSON(w, http.StatusOK, apiStore(st))
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

func (s *Server) handleCreateEnrolmentToken(w http.ResponseWriter, r *http.Request) error {
	var req hubapi.EnrolmentTokenRequest
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
	writeJSON(w, http.StatusCreated, hubapi.EnrolmentToken{Token: tok, ExpiresAt: exp.UTC()})
	return nil
}

func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) error {
	tok, ok := bearer(r)
	if !ok {
		return hub.Errorf(hub.EUNAUTHORIZED, "Authorization: Bearer <join token> is required.")
	}
	var req hubapi.EnrolRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	ns := hub.NewStore{Name: req.Name, URL: req.URL, Policy: hub.PolicyMirror}
	if err := ns.Validate(); err != nil {
		return err
	}
	st, cred, err := s.Stores.Enrol(r.Context(), tok, ns)
	if err != nil {
		return err
	}
	s.Logger.Info("store enrolled", "store_id", st.ID)
	writeJSON(w, http.StatusCreated, hubapi.CreatedStore{Store: apiStore(st), Token: cred})
	return nil
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
	if next == "" {
		// An empty page keeps the caller's cursor so polling can resume.
		next = p.After
	}
	writeJSON(w, http.StatusOK, hubapi.OrderList{Orders: apiList(list, apiOrder), Next: next})
	return nil
}

func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	o, err := s.Orders.Order(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiOrder(o))
	return nil
}

// handleFulfil marks an order shipped. With a shipment in the body it
// also carries the tracking into the store's order (a partial shipment
// fulfils the hub's stock only once every line has shipped); with none it
// fulfils the hub's stock alone, as before shipments existed.
func (s *Server) handleFulfil(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req hubapi.ShipmentRequest
	given, err := s.decodeOptionalJSON(w, r, &req)
	if err != nil {
		return err
	}
	if !given {
		o, err := s.Orders.Fulfil(r.Context(), id, actor)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, apiOrder(o))
		return nil
	}
	cs, err := s.commandService()
	if err != nil {
		return err
	}
	sh := hub.Shipment{Carrier: req.Carrier, TrackingNumber: req.TrackingNumber, TrackingURL: req.TrackingURL}
	if req.ShippedAt != nil {
		sh.ShippedAt = req.ShippedAt.UTC()
	}
	for _, l := range req.Lines {
		sh.Lines = append(sh.Lines, hub.ShipmentLine(l))
	}
	o, _, err := cs.Ship(r.Context(), id, sh, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiOrder(o))
	return nil
}

func (s *Server) handleERPReference(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req hubapi.ERPReference
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	cs, err := s.commandService()
	if err != nil {
		return err
	}
	c, err := cs.SetERPReference(r.Context(), id, hub.ERPReference(req), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, apiCommand(c))
	return nil
}

func (s *Server) handleCancellation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req hubapi.CancellationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	cs, err := s.commandService()
	if err != nil {
		return err
	}
	c, err := cs.Cancel(r.Context(), id, req.Reason, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, apiCommand(c))
	return nil
}

func (s *Server) handleOrderCommands(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cs, err := s.commandService()
	if err != nil {
		return err
	}
	list, err := cs.Commands(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.OrderCommandList{Commands: apiList(list, apiCommand)})
	return nil
}

// commandService is the order service's command side.
func (s *Server) commandService() (hub.OrderCommandService, error) {
	cs, ok := s.Orders.(hub.OrderCommandService)
	if !ok {
		return nil, hub.Errorf(hub.EINTERNAL, "This hub keeps no order commands.")
	}
	return cs, nil
}
