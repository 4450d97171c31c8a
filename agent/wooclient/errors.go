package wooclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stockwire/stockwire/shared/woo"
)

// Start-up check errors. Check returns one of them (wrapped, errors.Is) so
// the agent can tell the operator exactly what is wrong. None holds a
// secret.
var (
	// ErrStoreUnreachable: no HTTP answer from the store (DNS, refused
	// connection, TLS, timeout) or an answer that is not WooCommerce's.
	ErrStoreUnreachable = errors.New("store unreachable")
	// ErrNotWooCommerce: the server answers but /wp-json/wc/v3 is not there
	// (WooCommerce missing, REST API disabled, or plain permalinks).
	ErrNotWooCommerce = errors.New("no WooCommerce REST API at this URL (is WooCommerce active and are pretty permalinks on?)")
	// ErrUnknownKey: the store does not know the consumer key.
	ErrUnknownKey = errors.New("consumer key unknown to the store")
	// ErrWrongSecret: the key is known but the secret (or, for OAuth, the
	// signature; check that the store URL is the site's home URL) is wrong.
	ErrWrongSecret = errors.New("consumer secret is wrong (or the store URL differs from the site's home URL)")
	// ErrReadOnlyKey: the key can read but not write.
	ErrReadOnlyKey = errors.New("API key is read-only; it needs read/write permissions")
	// ErrWriteOnlyKey: the key can write but not read.
	ErrWriteOnlyKey = errors.New("API key is write-only; it needs read/write permissions")
	// ErrHTTPSRequired: Basic auth was ignored because WordPress does not
	// see the request as HTTPS (TLS ended at a proxy without
	// X-Forwarded-Proto mapping); use an http:// store URL (OAuth) or make
	// WordPress see HTTPS.
	ErrHTTPSRequired = errors.New("store ignores Basic auth: WordPress does not see the request as HTTPS")
	// ErrClockSkew: the store rejected the OAuth timestamp (clocks differ
	// by more than 15 minutes).
	ErrClockSkew = errors.New("store rejected the OAuth timestamp: clocks differ by more than 15 minutes")
	// ErrForbidden: the key's WordPress user lacks the capability.
	ErrForbidden = errors.New("API key's user lacks the needed WordPress capability")
)

// ErrOrderNotFound is matched (errors.Is) by the error of an order call
// for an order the store does not have (deleted for good, or never
// there): a permanent answer, not worth retrying.
var ErrOrderNotFound = errors.New("order not found in the store")

// ErrOutcomeUnknown is matched (errors.Is) by an *OutcomeUnknownError.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// OutcomeUnknownError reports a non-idempotent request (such as a batch with
// inventory_delta) that may or may not have been applied: it was sent, and
// then the answer was lost (timeout, transport error) or was a 5xx. It is
// not retried; the caller must read back the state to decide.
type OutcomeUnknownError struct {
	Route string // route pattern, e.g. "POST /products/batch"
	Err   error  // what happened after the request was sent
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%s: outcome unknown: %v", e.Route, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// StatusError is a non-2xx answer whose body is not a WooCommerce error
// (an HTML page from a proxy, a WAF, a PHP fatal).
type StatusError struct {
	Route  string
	Status int
	Body   string // first bytes of the body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %q", e.Route, e.Status, e.Body)
}

// classifyAuth maps a WooCommerce authentication error to a Check sentinel,
// or nil when it is not one.
func classifyAuth(ae *woo.APIError, basic bool) error {
	msg := strings.ToLower(ae.Message)
	switch {
	case strings.Contains(msg, "consumer key is invalid"):
		return ErrUnknownKey
	case strings.Contains(msg, "consumer secret is invalid"), strings.Contains(msg, "invalid signature"):
		return ErrWrongSecret
	case strings.Contains(msg, "does not have write permission"):
		return ErrReadOnlyKey
	case strings.Contains(msg, "does not have read permission"):
		return ErrWriteOnlyKey
	case strings.Contains(msg, "invalid timestamp"):
		return ErrClockSkew
	}
	switch ae.Code {
	case "woocommerce_rest_cannot_view", "woocommerce_rest_cannot_create", "woocommerce_rest_cannot_edit", "woocommerce_rest_cannot_batch", "rest_forbidden":
		if ae.Data.Status == 401 {
			// No user: with Basic, either the key is unknown or the
			// credentials were ignored (no HTTPS); Check tells them apart.
			if basic {
				return ErrHTTPSRequired
			}
			return ErrUnknownKey
		}
		return ErrForbidden
	}
	return nil
}

// StoreAnsweredError reports whether err is the store answering but failing
// (HTTP 5xx or 429): the store is there and may be fine in a minute, unlike
// a wrong URL, key or permission.
func StoreAnsweredError(err error) bool {
	var se *StatusError
	var ae *woo.APIError
	switch {
	case errors.As(err, &se):
		return se.Status >= 500 || se.Status == http.StatusTooManyRequests
	case errors.As(err, &ae):
		return ae.Data.Status >= 500 || ae.Data.Status == http.StatusTooManyRequests
	}
	return false
}
