// Authentication as WC_REST_Authentication does it: Basic and query-string
// keys over HTTPS, OAuth 1.0a one-legged otherwise, then key permissions.

package woosim

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stockwire/stockwire/shared/woo"
)

// authResult is who a request acts as.
type authResult struct {
	authed bool
	perms  string
}

func (s *Store) isHTTPS(r *http.Request) bool {
	return r.TLS != nil || s.opts.TrustProxyHTTPS && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func authError(msg string) *apiErr {
	return newErr(http.StatusUnauthorized, "woocommerce_rest_authentication_error", msg)
}

// parseOAuthHeader reads the params of an "Authorization: OAuth ..." header.
func parseOAuthHeader(h string) url.Values {
	v := url.Values{}
	if len(h) < 6 || !strings.EqualFold(h[:6], "oauth ") {
		return v
	}
	for part := range strings.SplitSeq(h[6:], ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if !strings.HasPrefix(k, "oauth_") {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if uv, err := url.PathUnescape(val); err == nil {
			val = uv
		}
		v.Set(k, val)
	}
	return v
}

var oauthRequired = []string{"oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method"}

// authenticate follows WC_REST_Authentication: Basic/query keys on HTTPS,
// else OAuth 1.0a one-legged. A request with no credentials is not an
// error: it runs unauthenticated. form holds POST form params.
func (s *Store) authenticate(r *http.Request, form url.Values) (authResult, *apiErr) {
	query := r.URL.Query()
	if s.isHTTPS(r) {
		ck, cs := query.Get("consumer_key"), query.Get("consumer_secret")
		if ck == "" || cs == "" {
			ck, cs, _ = r.BasicAuth()
		}
		if ck != "" {
			h := hashKey(ck)
			if k, ok := s.lookupKey(h); ok {
				if !hmac.Equal([]byte(k.secret), []byte(cs)) {
					return authResult{}, authError("Consumer secret is invalid.")
				}
				return authResult{authed: true, perms: k.perms}, nil
			}
		}
	}
	// PHP builds $_GET/$_POST: a repeated plain key keeps its last value
	// (the official JS client sends its query twice); POST overrides GET.
	params := url.Values{}
	for _, src := range []url.Values{query, form} {
		for k, v := range src {
			if len(v) > 0 {
				params[k] = []string{v[len(v)-1]}
			}
		}
	}
	for k, v := range parseOAuthHeader(r.Header.Get("Authorization")) {
		params[k] = v
	}
	var missing []string
	for _, name := range oauthRequired {
		if params.Get(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == len(oauthRequired) {
		return authResult{}, nil
	}
	if len(missing) > 0 {
		return authResult{}, newErr(http.StatusUnauthorized, "woocommerce_rest_authentication_missing_parameter",
			"Missing OAuth parameter "+strings.Join(missing, ", "))
	}
	h := hashKey(params.Get("oauth_consumer_key"))
	k, ok := s.lookupKey(h)
	if !ok {
		return authResult{}, authError("Consumer key is invalid.")
	}
	method := params.Get("oauth_signature_method")
	if method != "HMAC-SHA1" && method != "HMAC-SHA256" {
		return authResult{}, authError("Invalid signature - signature method is invalid.")
	}
	sig := strings.ReplaceAll(params.Get("oauth_signature"), " ", "+")
	if u, err := url.PathUnescape(sig); err == nil {
		sig = u
	}
	signed := url.Values{}
	for key, v := range params {
		if key != "oauth_signature" {
			signed[key] = v
		}
	}
	base := woo.SignatureBaseString(r.Method, s.signingURL(r), signed)
	want := woo.Sign(method, k.secret, base)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return authResult{}, authError("Invalid signature - provided signature does not match.")
	}
	ts, err := strconv.ParseInt(params.Get("oauth_timestamp"), 10, 64)
	now := s.opts.Now().Unix()
	if err != nil || ts < now-900 || ts > now+900 {
		return authResult{}, authError("Invalid timestamp.")
	}
	nonceKey := h + "\x00" + params.Get("oauth_nonce")
	s.nonceMu.Lock()
	if len(s.nonces) > 100000 {
		for k, t := range s.nonces {
			if t < now-900 {
				delete(s.nonces, k)
			}
		}
	}
	if t, used := s.nonces[nonceKey]; used && t >= now-900 {
		s.nonceMu.Unlock()
		return authResult{}, authError("Invalid nonce - nonce has already been used.")
	}
	s.nonces[nonceKey] = ts
	s.nonceMu.Unlock()
	return authResult{authed: true, perms: k.perms}, nil
}

// signingURL is the home URL (scheme by is_ssl) plus the request path.
func (s *Store) signingURL(r *http.Request) string {
	s.mu.Lock()
	home := s.home
	s.mu.Unlock()
	if home == "" {
		home = "http://" + r.Host
	}
	u, err := url.Parse(home)
	if err != nil {
		u = &url.URL{Host: r.Host}
	}
	scheme := "http"
	if s.isHTTPS(r) {
		scheme = "https"
	}
	path := r.URL.Path
	if base := strings.TrimSuffix(u.Path, "/"); base != "" && !strings.HasPrefix(path, base+"/") {
		path = base + path
	}
	return scheme + "://" + u.Host + path
}

// checkKeyPermissions is check_permissions on rest_pre_dispatch.
func checkKeyPermissions(method, perms string) *apiErr {
	switch method {
	case http.MethodGet, http.MethodHead:
		if perms != PermRead && perms != PermReadWrite {
			return newErr(http.StatusUnauthorized, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions.")
		}
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if perms != PermWrite && perms != PermReadWrite {
			return newErr(http.StatusUnauthorized, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions.")
		}
	case http.MethodOptions:
	default:
		return newErr(http.StatusUnauthorized, "woocommerce_rest_authentication_error", "Unknown request method.")
	}
	return nil
}

// Permission contexts, as wc_rest_check_*_permissions uses them.
const (
	ctxList   = "list"
	ctxRead   = "read"
	ctxCreate = "create"
	ctxEdit   = "edit"
	ctxDelete = "delete"
	ctxBatch  = "batch"
)

func unauthorized(ctx string) *apiErr {
	switch ctx {
	case ctxList:
		return newErr(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
	case ctxRead:
		return newErr(401, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
	case ctxCreate:
		return newErr(401, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
	case ctxEdit:
		return newErr(401, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
	case ctxDelete:
		return newErr(401, "woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.")
	default:
		return newErr(401, "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")
	}
}

func (s *Store) lookupKey(h string) (apiKey, bool) {
	s.nonceMu.Lock()
	defer s.nonceMu.Unlock()
	k, ok := s.keys[h]
	return k, ok
}
