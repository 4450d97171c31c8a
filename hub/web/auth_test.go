package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// A failed admin call answers the same whether or not the token is a valid
// store credential, and never looks it up.
func TestServer_AdminAuthRevealsNoCredential(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	var lookups atomic.Int64
	authenticate := f.stores.AuthenticateAgentFn
	f.stores.AuthenticateAgentFn = func(ctx context.Context, token string) (hub.Store, error) {
		lookups.Add(1)
		return authenticate(ctx, token)
	}
	respValid, bodyValid := f.do(t, "GET", "/api/v1/skus/KNOWN", "legacy-store-cred", "")
	respGuess, bodyGuess := f.do(t, "GET", "/api/v1/skus/KNOWN", "legacy-store-crex", "")
	if respValid.StatusCode != http.StatusUnauthorized || respValid.StatusCode != respGuess.StatusCode || string(bodyValid) != string(bodyGuess) {
		t.Fatalf("valid store credential: %d %s; a guess: %d %s", respValid.StatusCode, bodyValid, respGuess.StatusCode, bodyGuess)
	}
	if n := lookups.Load(); n != 0 {
		t.Fatalf("the admin check looked the token up as a store credential %d times", n)
	}
}

// serveFrom sends one request to f's server as if from addr.
func (f *fakes) serveFrom(t *testing.T, addr, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	req.RemoteAddr = addr
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func TestServer_AuthFailuresRateLimited(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	f.srv.AuthFailureBurst = 3
	f.srv.AuthFailureRate = rate.Every(time.Hour)

	const guesser, neighbour = "192.0.2.1:5000", "192.0.2.2:5000"
	for i := range 3 {
		if rec := f.serveFrom(t, guesser, "GET", "/api/v1/skus/KNOWN", "guess-"+strconv.Itoa(i), ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, rec.Code)
		}
	}
	t.Run("OverTheBurst", func(t *testing.T) {
		rec := f.serveFrom(t, guesser, "GET", "/api/v1/skus/KNOWN", "guess-3", "")
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429: %s", rec.Code, rec.Body)
		}
		retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if err != nil || retry < 1 || retry > 3600 {
			t.Fatalf("Retry-After=%q, want 1 to 3600 seconds", rec.Header().Get("Retry-After"))
		}
		var eb hubapi.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code != hubapi.CodeTooManyRequests {
			t.Fatalf("body %s (%v), want code %s", rec.Body, err, hubapi.CodeTooManyRequests)
		}
	})
	t.Run("EvenTheRightToken", func(t *testing.T) {
		if rec := f.serveFrom(t, guesser, "GET", "/api/v1/skus/KNOWN", adminToken, ""); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429: the limited address must learn nothing", rec.Code)
		}
	})
	t.Run("OtherAddressesUnaffected", func(t *testing.T) {
		if rec := f.serveFrom(t, neighbour, "GET", "/api/v1/skus/KNOWN", adminToken, ""); rec.Code != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
		}
	})
	t.Run("SuccessesCostNothing", func(t *testing.T) {
		for i := range 10 {
			if rec := f.serveFrom(t, "192.0.2.3:5000", "GET", "/api/v1/skus/KNOWN", adminToken, ""); rec.Code != http.StatusOK {
				t.Fatalf("call %d: status %d, want 200", i, rec.Code)
			}
		}
	})
	t.Run("JoinTokens", func(t *testing.T) {
		const enroller = "192.0.2.4:5000"
		body := `{"name":"s","url":"https://a.example"}`
		for i := range 3 {
			if rec := f.serveFrom(t, enroller, "POST", "/api/v1/enrol", "join-bad", body); rec.Code != http.StatusUnauthorized {
				t.Fatalf("bad join token %d: status %d, want 401", i, rec.Code)
			}
		}
		if rec := f.serveFrom(t, enroller, "POST", "/api/v1/enrol", "join-ok", body); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", rec.Code)
		}
	})
	t.Run("PublicRoutesUnaffected", func(t *testing.T) {
		if rec := f.serveFrom(t, guesser, "GET", "/healthz", "", ""); rec.Code != http.StatusOK {
			t.Fatalf("healthz status %d, want 200", rec.Code)
		}
	})
}

// The agent link's refused credentials count too; the WebSocket handshake
// still reaches the connection through the recorder.
func TestServer_AgentAuthFailuresRateLimited(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	f.srv.AuthFailureBurst = 2
	f.srv.AuthFailureRate = rate.Every(time.Hour)
	f.srv.AgentHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer swa_good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok {
			t.Error("the agent handler cannot reach the connection to hijack it")
		}
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	const agent = "192.0.2.9:5000"
	for i := range 2 {
		if rec := f.serveFrom(t, agent, "GET", "/v1/agent", "swa_bad", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("bad credential %d: status %d, want 401", i, rec.Code)
		}
	}
	if rec := f.serveFrom(t, agent, "GET", "/v1/agent", "swa_good", ""); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := f.serveFrom(t, "192.0.2.10:5000", "GET", "/v1/agent", "swa_good", ""); rec.Code != http.StatusSwitchingProtocols {
		t.Fatalf("another address: status %d, want the handshake", rec.Code)
	}
}
