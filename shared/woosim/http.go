// HTTP plumbing: routes, the auth and fault wrapper of every REST route,
// JSON answers, _fields, list parameters and paging.

package woosim

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const api = "/wp-json/wc/v3"

type request struct {
	r    *http.Request
	body []byte
	form url.Values
}

type handlerFunc func(w http.ResponseWriter, q *request) *apiErr

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP serves the REST API and the /sim/ API.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := s.onRequest.Load(); f != nil {
		(*f)(r)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Store) countRequest(route string, status int) {
	s.mu.Lock()
	s.stats.Requests[route+" "+strconv.Itoa(status)]++
	s.mu.Unlock()
}

// rest registers a REST route: faults, auth, key permissions, the
// route's permission context, then h.
func (s *Store) rest(pattern, permCtx string, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	full := method + " " + api + path
	s.mux.HandleFunc(full, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.countRequest(full, sw.status) }()
		// The Date header is the store's clock, as the web server in front
		// of WordPress shows it; net/http would send the real one.
		sw.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
		if !s.injectFaults(sw, r) {
			return
		}
		q := &request{r: r}
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			return
		}
		q.body = body
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			q.form, _ = url.ParseQuery(string(body))
		}
		auth, aerr := s.authenticate(r, q.form)
		if aerr != nil {
			if aerr.Message == "Consumer secret is invalid." {
				sw.Header().Set("WWW-Authenticate", `Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer secret in the password field"`)
			}
			s.writeErr(sw, aerr)
			return
		}
		if !auth.authed {
			s.writeErr(sw, unauthorized(permCtx))
			return
		}
		if e := checkKeyPermissions(r.Method, auth.perms); e != nil {
			s.writeErr(sw, e)
			return
		}
		if e := h(sw, q); e != nil {
			s.writeErr(sw, e)
		}
	})
}

// injectFaults applies latency, timeouts and errors; false means answered.
func (s *Store) injectFaults(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	if f.TimeoutRate > 0 && rand.Float64() < f.TimeoutRate {
		t := time.NewTimer(2 * time.Minute)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		return false
	}
	st := 0
	switch roll := rand.Float64(); {
	case roll < f.RateLimitRate:
		st = http.StatusTooManyRequests
	case roll < f.RateLimitRate+f.ErrorRate:
		st = f.ErrorStatus
		if st == 0 {
			st = http.StatusInternalServerError
		}
	}
	if st != 0 {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(st)
		_, _ = io.WriteString(w, "<html><body><h1>Injected error</h1></body></html>")
		return false
	}
	return true
}

func (s *Store) apiLink(w http.ResponseWriter) {
	s.mu.Lock()
	home := s.home
	s.mu.Unlock()
	w.Header().Add("Link", "<"+home+"/wp-json/>; rel=\"https://api.w.org/\"")
}

func (s *Store) writeErr(w http.ResponseWriter, e *apiErr) {
	s.apiLink(w)
	writeJSON(w, e.Status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"internal_server_error","message":"Internal error.","data":{"status":500}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeOK writes v, honouring _fields.
func (s *Store) writeOK(w http.ResponseWriter, q *request, status int, v any) {
	s.apiLink(w)
	if f := q.r.URL.Query().Get("_fields"); f != "" {
		v = filterFields(v, f)
	}
	writeJSON(w, status, v)
}

// writeOKLocked is writeOK for callers holding s.mu.
func (s *Store) writeOKLocked(w http.ResponseWriter, q *request, status int, v any) {
	w.Header().Add("Link", "<"+s.home+"/wp-json/>; rel=\"https://api.w.org/\"")
	if f := q.r.URL.Query().Get("_fields"); f != "" {
		v = filterFields(v, f)
	}
	writeJSON(w, status, v)
}

// filterFields keeps only the named top-level fields.
func filterFields(v any, fields string) any {
	var want []string
	for f := range strings.SplitSeq(fields, ",") {
		top, _, _ := strings.Cut(strings.TrimSpace(f), ".")
		if top != "" {
			want = append(want, top)
		}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		out := make([]map[string]any, rv.Len())
		for i := range out {
			out[i] = pickFields(rv.Index(i), want)
		}
		return out
	}
	return pickFields(rv, want)
}

var fieldIndexCache sync.Map // reflect.Type → map[string]int

func pickFields(rv reflect.Value, want []string) map[string]any {
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		rv = rv.Elem()
	}
	out := make(map[string]any, len(want))
	if rv.Kind() != reflect.Struct {
		return out
	}
	t := rv.Type()
	idx, ok := fieldIndexCache.Load(t)
	if !ok {
		m := map[string]int{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				m[name] = i
			}
		}
		idx, _ = fieldIndexCache.LoadOrStore(t, m)
	}
	for _, w := range want {
		if i, ok := idx.(map[string]int)[w]; ok {
			out[w] = rv.Field(i).Interface()
		}
	}
	return out
}

func decodeBody(q *request, v any) *apiErr {
	body := bytes.TrimSpace(q.body)
	if len(body) == 0 {
		return nil
	}
	if q.form != nil {
		// Form bodies carry fields as key=value; map the scalar ones.
		m := map[string]any{}
		for k, vals := range q.form {
			if !strings.HasPrefix(k, "oauth_") && len(vals) > 0 {
				m[k] = vals[0]
			}
		}
		b, _ := json.Marshal(m)
		body = b
	}
	if err := json.Unmarshal(body, v); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return newErr(400, "rest_invalid_param", "Invalid parameter(s): "+err.(*json.UnmarshalTypeError).Field)
		}
		return newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
	}
	return nil
}

// pageParams are the paging and ordering parameters of a list request.
type pageParams struct {
	page, perPage, offset int
	desc                  bool
	orderby               string
}

func parsePage(qv url.Values, defaultOrderby string) (pageParams, *apiErr) {
	p := pageParams{page: 1, perPage: 10, desc: true, orderby: defaultOrderby}
	if v := qv.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			e := newErr(400, "rest_invalid_param", "Invalid parameter(s): per_page")
			msg := "per_page must be between 1 (inclusive) and 100 (inclusive)"
			code := "rest_out_of_bounds"
			if err != nil {
				msg, code = "per_page is not of type integer.", "rest_invalid_type"
			}
			e.Data = map[string]any{"params": map[string]string{"per_page": msg},
				"details": map[string]any{"per_page": map[string]any{"code": code, "message": msg, "data": nil}}}
			return p, e
		}
		p.perPage = n
	}
	if v := qv.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, invalidParam("page", "page must be greater than or equal to 1")
		}
		p.page = n
	}
	if v := qv.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, invalidParam("offset", "offset is not of type integer.")
		}
		p.offset = n
	}
	switch qv.Get("order") {
	case "", "desc":
	case "asc":
		p.desc = false
	default:
		return p, invalidParam("order", "order is not one of asc and desc.")
	}
	if v := qv.Get("orderby"); v != "" {
		switch v {
		case "date", "id", "include", "title", "slug", "modified":
			p.orderby = v
		case "price", "popularity", "rating", "menu_order":
			p.orderby = "id"
		default:
			return p, invalidParam("orderby", "orderby is not one of date, id, include, title, slug, modified, price, popularity, rating, and menu_order.")
		}
	}
	return p, nil
}

var dateLayouts = []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", time.RFC3339, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z07:00"}

func parseDateParam(qv url.Values, name string) (*time.Time, *apiErr) {
	v := qv.Get(name)
	if v == "" {
		return nil, nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			t = t.UTC().Truncate(time.Second)
			return &t, nil
		}
	}
	e := invalidParam(name, "Invalid date.")
	return nil, e
}

// listItem is one candidate of a list answer, with the keys it sorts by.
type listItem struct {
	id       int64
	created  time.Time
	modified time.Time
	title    string
}

// paginate sorts items as pp asks, writes the X-WP-Total, X-WP-TotalPages
// and prev/next Link headers, and returns the ids of the requested page.
// Caller holds s.mu.
func (s *Store) paginate(w http.ResponseWriter, q *request, items []listItem, pp pageParams, include []int64) []int64 {
	less := func(a, b listItem) int {
		var c int
		switch pp.orderby {
		case "id":
		case "modified":
			c = a.modified.Compare(b.modified)
		case "title", "slug":
			c = strings.Compare(a.title, b.title)
		case "include":
			c = slices.Index(include, a.id) - slices.Index(include, b.id)
		default:
			c = a.created.Compare(b.created)
		}
		if c == 0 {
			c = cmpInt(a.id, b.id)
		}
		return c
	}
	if !slices.IsSortedFunc(items, less) {
		slices.SortStableFunc(items, less)
	}
	if pp.desc && pp.orderby != "include" {
		slices.Reverse(items)
	}
	total := len(items)
	pages := (total + pp.perPage - 1) / pp.perPage
	start := (pp.page-1)*pp.perPage + pp.offset
	if pp.offset > 0 {
		start = pp.offset
	}
	var out []int64
	for i := start; i < total && i < start+pp.perPage; i++ {
		out = append(out, items[i].id)
	}
	h := w.Header()
	h.Set("X-WP-Total", strconv.Itoa(total))
	h.Set("X-WP-TotalPages", strconv.Itoa(pages))
	base := s.home + q.r.URL.Path // caller holds s.mu
	linkTo := func(page int) string {
		v := q.r.URL.Query()
		v.Set("page", strconv.Itoa(page))
		return base + "?" + v.Encode()
	}
	if pp.page > 1 {
		prev := pp.page - 1
		if prev > pages {
			prev = pages
		}
		h.Add("Link", "<"+linkTo(prev)+">; rel=\"prev\"")
	}
	if pages > pp.page {
		h.Add("Link", "<"+linkTo(pp.page+1)+">; rel=\"next\"")
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseIDs(v string) []int64 {
	var out []int64
	for part := range strings.SplitSeq(v, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func removeID(ids []int64, id int64) []int64 {
	for i, x := range ids {
		if x == id {
			return append(ids[:i:i], ids[i+1:]...)
		}
	}
	return ids
}

func pathID(r *http.Request, name string) int64 {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func forceParam(q *request) bool {
	f := q.r.URL.Query().Get("force")
	return f == "true" || f == "1"
}

func (s *Store) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.countRequest("no_route", http.StatusNotFound)
		s.writeErr(w, newErr(404, "rest_no_route", "No route was found matching the URL and request method."))
	})
	for _, m := range []string{"POST", "PUT", "PATCH"} {
		s.rest(m+" /products/{id}", ctxEdit, s.handleProductUpdate)
		s.rest(m+" /products/batch", ctxBatch, s.handleProductBatch)
		s.rest(m+" /products/{pid}/variations/{id}", ctxEdit, s.handleVariationUpdate)
		s.rest(m+" /products/{pid}/variations/batch", ctxBatch, s.handleVariationBatch)
		s.rest(m+" /orders/{id}", ctxEdit, s.handleOrderUpdate)
		s.rest(m+" /orders/batch", ctxBatch, s.handleOrderBatch)
		s.rest(m+" /webhooks/{id}", ctxEdit, s.handleWebhookUpdate)
	}
	s.rest("GET /products", ctxList, s.handleProductList)
	s.rest("POST /products", ctxCreate, s.handleProductCreate)
	s.rest("GET /products/{id}", ctxRead, s.handleProductGet)
	s.rest("DELETE /products/{id}", ctxDelete, s.handleProductDelete)
	s.rest("GET /products/{pid}/variations", ctxList, s.handleVariationList)
	s.rest("POST /products/{pid}/variations", ctxCreate, s.handleVariationCreate)
	s.rest("GET /products/{pid}/variations/{id}", ctxRead, s.handleVariationGet)
	s.rest("DELETE /products/{pid}/variations/{id}", ctxDelete, s.handleVariationDelete)
	s.rest("GET /variations", ctxList, s.handleAllVariations)
	s.rest("GET /orders", ctxList, s.handleOrderList)
	s.rest("POST /orders", ctxCreate, s.handleOrderCreate)
	s.rest("GET /orders/{id}", ctxRead, s.handleOrderGet)
	s.rest("DELETE /orders/{id}", ctxDelete, s.handleOrderDelete)
	s.rest("GET /orders/{id}/refunds", ctxList, s.handleRefundList)
	s.rest("POST /orders/{id}/refunds", ctxCreate, s.handleRefundCreate)
	s.rest("GET /orders/{id}/notes", ctxList, s.handleNoteList)
	s.rest("POST /orders/{id}/notes", ctxCreate, s.handleNoteCreate)
	s.rest("GET /webhooks", ctxList, s.handleWebhookList)
	s.rest("POST /webhooks", ctxCreate, s.handleWebhookCreate)
	s.rest("GET /webhooks/{id}", ctxRead, s.handleWebhookGet)
	s.rest("DELETE /webhooks/{id}", ctxDelete, s.handleWebhookDelete)

	s.mux.HandleFunc("POST /sim/checkout", s.simCheckout)
	s.mux.HandleFunc("POST /sim/admin-edit", s.simAdminEdit)
	s.mux.HandleFunc("POST /sim/faults", s.simFaults)
	s.mux.HandleFunc("GET /sim/faults", s.simFaults)
	s.mux.HandleFunc("GET /sim/stats", s.simStats)
	s.mux.HandleFunc("POST /sim/order-status", s.simOrderStatus)
	s.mux.HandleFunc("POST /sim/flush-webhooks", s.simFlush)
	s.mux.HandleFunc("GET /wp-cron.php", s.simFlush)
}
