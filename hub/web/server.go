// Package web is the hub's HTTP API: the admin JSON API under /api/v1 (stock,
// stores, enrolment, the order feed, webhook subscriptions and their
// deliveries), the agent enrolment endpoint, health and readiness probes,
// /metrics, an HTML status page of the stores and their agents (/status)
// and the embedded OpenAPI document; Mount serves other handlers beside
// them (the operator console, hub/console). It maps hub error codes to HTTP
// statuses in one table and leaves storage to the hub service interfaces
// and the agent WebSocket link to AgentHandler.
package web

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// OpenAPI is the hand-written OpenAPI 3 document of the API, served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Server serves the hub's HTTP API. NewServer builds its routes; set the
// services before serving.
type Server struct {
	Inventory hub.InventoryService
	Stores    hub.StoreService
	Orders    hub.OrderService
	Admin     hub.AdminAuth
	// Allocation takes store updates: policy, buffer and allocate
	// parameters in one transaction.
	Allocation hub.AllocationService
	// Webhooks serves the webhook subscriptions and deliveries. Optional:
	// without it those routes answer 404.
	Webhooks hub.WebhookService
	Logger   *slog.Logger

	// AgentHandler serves /v1/agent (the WebSocket link); it authenticates
	// agents itself. Optional: without it /v1/agent answers 404.
	AgentHandler http.Handler
	// Ready reports whether the hub can serve (database ping) for /readyz.
	// Optional: nil means always ready.
	Ready func(ctx context.Context) error
	// OnRevoke, when set, is called after a store is revoked, so the link
	// can cut its session at once.
	OnRevoke func(storeID int64)

	// MaxJSONBytes bounds a JSON request body. Defaults to 1 MiB.
	MaxJSONBytes int64
	// MaxCSVBytes bounds a CSV import. Defaults to 32 MiB.
	MaxCSVBytes int64
	// DefaultLimit and MaxLimit bound list pages. Default 100 and 1,000.
	DefaultLimit, MaxLimit int
	// AuthFailureRate and AuthFailureBurst limit failed authentications
	// (admin token, join token, store credential on /v1/agent) per client
	// address: AuthFailureBurst at
	// once, then AuthFailureRate per second; an address over it gets 429
	// with Retry-After, whatever credential it sends. Default 1 per second
	// and 10. Set before serving.
	AuthFailureRate  rate.Limit
	AuthFailureBurst int

	authFailures *authLimiter // built on first use from the two above
	authOnce     sync.Once
	metrics      *metrics
	mux          *http.ServeMux
	patterns     []string // sorted by Patterns
}

// NewServer returns a server with its routes, registering its metrics with
// reg (nil for none) and serving reg at /metrics when it is also a
// prometheus.Gatherer (a *prometheus.Registry). The caller sets the
// services before serving.
func NewServer(logger *slog.Logger, reg prometheus.Registerer) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		Logger:           logger,
		MaxJSONBytes:     1 << 20,
		MaxCSVBytes:      32 << 20,
		DefaultLimit:     100,
		MaxLimit:         1000,
		AuthFailureRate:  1,
		AuthFailureBurst: 10,
		metrics:          newMetrics(reg),
		mux:              http.NewServeMux(),
	}
	gatherer, _ := reg.(prometheus.Gatherer)
	s.routes(gatherer)
	return s
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Patterns returns the registered route patterns, sorted, without the
// catch-all "/".
func (s *Server) Patterns() []string {
	p := append([]string(nil), s.patterns...)
	sort.Strings(p)
	return p
}

// handleAgent hands the request to AgentHandler. A refused store
// credential (401) counts as a failed authentication of the client's
// address, like a wrong admin token.
func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request) {
	if s.AgentHandler == nil {
		s.writeError(w, r, hub.Errorf(hub.ENOTFOUND, "No such route."))
		return
	}
	limiter := s.authLimiter()
	if wait := limiter.retryAfter(r); wait > 0 {
		writeTooManyFailures(w, wait)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	s.AgentHandler.ServeHTTP(rec, r)
	if rec.status == http.StatusUnauthorized {
		limiter.fail(r)
	}
}

// statusRecorder notes the status a handler answered with. Unwrap lets
// the WebSocket handshake reach the connection underneath.
type statusRecorder struct {
	http.ResponseWriter
	status int // 0 until WriteHeader
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// handlerFunc is an API handler: it returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access is who may call a route.
type access int

const (
	// public routes take no credential.
	public access = iota
	// adminOnly routes take the admin token.
	adminOnly
	// tokenHolder routes check a credential of their own (a join token).
	tokenHolder
)

// routes registers every route, and /metrics when gatherer is set.
func (s *Server) routes(gatherer prometheus.Gatherer) {
	s.handle("GET /healthz", public, s.handleHealthz)
	s.handle("GET /readyz", public, s.handleReadyz)
	s.handle("GET /api/v1/openapi.json", public, s.handleOpenAPI)
	if gatherer != nil {
		s.handleRaw("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	// Not instrumented here: a WebSocket session lasts hours, and the link
	// counts its own sessions.
	s.mux.HandleFunc("GET /v1/agent", s.handleAgent)
	s.patterns = append(s.patterns, "GET /v1/agent")

	s.handle("PUT /api/v1/skus/{sku}/locations/{location}", adminOnly, s.handleSetCount)
	s.handle("PUT /api/v1/skus/{sku}/safety-stock", adminOnly, s.handleSetSafetyStock)
	s.handle("GET /api/v1/skus/{sku}", adminOnly, s.handleGetSKU)
	s.handle("GET /api/v1/skus", adminOnly, s.handleListSKUs)
	s.handle("POST /api/v1/adjustments", adminOnly, s.handleAdjust)
	s.handle("GET /api/v1/ledger", adminOnly, s.handleLedger)
	s.handle("POST /api/v1/stock/import", adminOnly, s.handleImport)

	s.handle("POST /api/v1/stores", adminOnly, s.handleCreateStore)
	s.handle("GET /api/v1/stores", adminOnly, s.handleListStores)
	s.handle("GET /api/v1/stores/{id}", adminOnly, s.handleGetStore)
	s.handle("PUT /api/v1/stores/{id}/sku-aliases", adminOnly, s.handlePutAliases)
	s.handle("GET /api/v1/stores/{id}/sku-aliases", adminOnly, s.handleGetAliases)
	s.handle("PATCH /api/v1/stores/{id}", adminOnly, s.handleUpdateStore)
	s.handle("DELETE /api/v1/stores/{id}", adminOnly, s.handleRevokeStore)
	s.handle("POST /api/v1/enrolment-tokens", adminOnly, s.handleCreateEnrolmentToken)
	s.handle("POST /api/v1/enrol", tokenHolder, s.handleEnrol)

	s.handle("GET /status", adminOnly, s.handleStatus)

	// Orders carry personal data (names, addresses, emails, phones). The
	// admin token is the only credential the API takes, so only admins
	// read them; a reader role would get documents without it.
	s.handle("GET /api/v1/orders", adminOnly, s.handleListOrders)
	s.handle("GET /api/v1/problems", adminOnly, s.handleProblems)
	s.handle("GET /api/v1/orders/{id}", adminOnly, s.handleGetOrder)
	s.handle("POST /api/v1/orders/{id}/fulfilment", adminOnly, s.handleFulfil)
	s.handle("POST /api/v1/orders/{id}/erp-reference", adminOnly, s.handleERPReference)
	s.handle("POST /api/v1/orders/{id}/cancellation", adminOnly, s.handleCancellation)
	s.handle("GET /api/v1/orders/{id}/commands", adminOnly, s.handleOrderCommands)

	s.handle("POST /api/v1/webhooks", adminOnly, s.handleCreateWebhook)
	s.handle("GET /api/v1/webhooks", adminOnly, s.handleListWebhooks)
	s.handle("GET /api/v1/webhooks/{id}", adminOnly, s.handleGetWebhook)
	s.handle("PATCH /api/v1/webhooks/{id}", adminOnly, s.handleUpdateWebhook)
	s.handle("DELETE /api/v1/webhooks/{id}", adminOnly, s.handleDeleteWebhook)
	s.handle("GET /api/v1/webhook-deliveries", adminOnly, s.handleListDeliveries)
	s.handle("POST /api/v1/webhook-deliveries/{id}/replay", adminOnly, s.handleReplayDelivery)
	s.handle("POST /api/v1/webhook-deliveries/replay", adminOnly, s.handleReplayDead)
	s.handle("PUT /api/v1/skus/{sku}/reorder-point", adminOnly, s.handleSetReorderPoint)

	// Everything else gets a JSON 404, or 405 when the path exists with
	// other methods (the catch-all would otherwise hide the mux's 405).
	s.mux.Handle("/", s.instrument("/", http.HandlerFunc(s.handleNoRoute)))
}

// routeMethods are the methods the API routes use.
var routeMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete}

func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range routeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, hubapi.ErrorBody{Error: hubapi.ErrorDetail{
			Code: hubapi.CodeMethodNotAllowed, Message: fmt.Sprintf("Method %s is not allowed here; use %s.", r.Method, strings.Join(allow, ", ")),
		}})
		return
	}
	s.writeError(w, r, hub.Errorf(hub.ENOTFOUND, "No such route."))
}

// handle registers an API handler, behind the admin check for adminOnly
// routes, instrumented under its pattern. On routes that take a credential,
// a failed authentication counts against the client's address, and an
// address with too many is refused before its credential is checked.
func (s *Server) handle(pattern string, who access, h handlerFunc) {
	var hh http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who == public {
			if err := h(w, r); err != nil {
				s.writeError(w, r, err)
			}
			return
		}
		limiter := s.authLimiter()
		if wait := limiter.retryAfter(r); wait > 0 {
			writeTooManyFailures(w, wait)
			return
		}
		var err error
		if who == adminOnly {
			err = s.checkAdmin(r)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			if code := hub.ErrorCode(err); code == hub.EUNAUTHORIZED || code == hub.EFORBIDDEN && who == adminOnly {
				limiter.fail(r)
			}
			s.writeError(w, r, err)
		}
	})
	s.handleRaw(pattern, hh)
}

func (s *Server) authLimiter() *authLimiter {
	s.authOnce.Do(func() { s.authFailures = &authLimiter{limit: s.AuthFailureRate, burst: s.AuthFailureBurst} })
	return s.authFailures
}

// Mount serves h at pattern beside the API (the operator console,
// hub/console), instrumented under its pattern; the pattern is not an API
// route, so Patterns leaves it out. Call it before serving.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

func (s *Server) handleRaw(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
	s.patterns = append(s.patterns, pattern)
}

func (s *Server) instrument(pattern string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"handler": pattern}
	return promhttp.InstrumentHandlerDuration(s.metrics.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(s.metrics.requests.MustCurryWith(labels), h))
}

// checkAdmin admits the admin token only. A token shaped like a store
// credential gets EFORBIDDEN, anything else EUNAUTHORIZED: the answer says
// nothing of whether the token is a valid store credential, so a failed
// admin call is no oracle for credentials.
func (s *Server) checkAdmin(r *http.Request) error {
	tok, ok := bearer(r)
	if !ok {
		return hub.Errorf(hub.EUNAUTHORIZED, "Authorization: Bearer <admin token> is required.")
	}
	if hub.IsStoreCredential(tok) {
		return hub.Errorf(hub.EFORBIDDEN, "A store credential cannot call admin routes.")
	}
	return s.Admin.CheckAdminToken(r.Context(), tok)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.Warn("readiness check failed", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, hubapi.ErrorBody{Error: hubapi.ErrorDetail{Code: hubapi.CodeUnavailable, Message: "Database unreachable."}})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
	return nil
}
