package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConsole_Login(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)

	t.Run("PagesNeedALogin", func(t *testing.T) {
		b := tc.Browser(t)
		for _, path := range []string{"/", "/stores", "/skus", "/orders", "/problems"} {
			resp, _ := b.Do("GET", path, nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Errorf("GET %s without a session: %d %q, want a redirect to /login", path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if resp, _ := b.Do("GET", "/events", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /events without a session: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("WrongToken", func(t *testing.T) {
		b := tc.Browser(t)
		resp, body := b.Do("POST", "/login", url.Values{"token": {"not-the-admin-token-at-all"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not the admin token") {
			t.Fatalf("wrong token: %d: %s", resp.StatusCode, body)
		}
		if len(resp.Cookies()) != 0 {
			t.Fatalf("wrong token set cookies: %v", resp.Cookies())
		}
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET / after a wrong token: %d, want a redirect", resp.StatusCode)
		}
	})

	t.Run("OK", func(t *testing.T) {
		b := tc.Browser(t)
		resp, _ := b.Do("POST", "/login", url.Values{"token": {adminToken}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		cookies := resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("login set %d cookies, want 1", len(cookies))
		}
		ck := cookies[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, Path=/", ck)
		}
		if strings.Contains(ck.Value, adminToken) {
			t.Fatal("the session cookie holds the admin token")
		}
		for _, path := range []string{"/", "/stores", "/skus", "/orders", "/problems"} {
			if resp, body := b.Do("GET", path, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Log out") {
				t.Errorf("GET %s logged in: %d: %s", path, resp.StatusCode, body)
			}
		}
	})
}

func TestConsole_SecureCookieOverTLS(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, true)
	resp, _ := tc.Browser(t).Do("POST", "/login", url.Values{"token": {adminToken}})
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("login over TLS: %d, cookies %v: want one Secure cookie", resp.StatusCode, cs)
	}
}

func TestConsole_LoginRateLimit(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	b := tc.Browser(t)
	for range 3 { // the burst
		if resp, _ := b.Do("POST", "/login", url.Values{"token": {"wrong-token-0123456789"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token within the burst: %d, want 401", resp.StatusCode)
		}
	}
	resp, _ := b.Do("POST", "/login", url.Values{"token": {adminToken}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("right token after the burst: %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The API shares the budget.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", tc.ts.URL+"/api/v1/stores", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	apiResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	apiResp.Body.Close()
	if apiResp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("API after failed console logins: %d, want 429", apiResp.StatusCode)
	}
}

func TestConsole_Logout(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	b := tc.Browser(t)
	b.MustLogin()
	csrf := b.MustCSRF("/")
	stolen := b.client.Jar.Cookies(mustURL(t, tc.ts.URL))

	t.Run("WithoutCSRF", func(t *testing.T) {
		if resp, _ := b.Do("POST", "/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout without the CSRF token: %d, want 403", resp.StatusCode)
		}
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("session after a refused logout: %d, want 200", resp.StatusCode)
		}
	})

	t.Run("OK", func(t *testing.T) {
		resp, _ := b.Do("POST", "/logout", url.Values{"csrf": {csrf}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET / after logout: %d, want a redirect to /login", resp.StatusCode)
		}
	})

	t.Run("OldCookieEnded", func(t *testing.T) {
		// A copy of the cookie taken before logout opens nothing.
		other := tc.Browser(t)
		other.client.Jar.SetCookies(mustURL(t, tc.ts.URL), stolen)
		if resp, _ := other.Do("GET", "/stores", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET /stores with the logged-out cookie: %d, want a redirect", resp.StatusCode)
		}
		if resp, _ := other.Do("GET", "/events", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /events with the logged-out cookie: %d, want 401", resp.StatusCode)
		}
	})
}

func TestConsole_SessionExpiry(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	tc.console.IdleTimeout, tc.console.MaxAge = time.Hour, 3*time.Hour

	t.Run("Idle", func(t *testing.T) {
		b := tc.Browser(t)
		b.MustLogin()
		tc.clock.Advance(59 * time.Minute)
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / within the idle timeout: %d", resp.StatusCode)
		}
		tc.clock.Advance(61 * time.Minute)
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET / after an hour idle: %d, want a redirect to /login", resp.StatusCode)
		}
	})

	t.Run("MaxAge", func(t *testing.T) {
		b := tc.Browser(t)
		b.MustLogin()
		for range 5 { // busy, never idle, for 2.5 hours
			tc.clock.Advance(30 * time.Minute)
			if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / of a busy session: %d", resp.StatusCode)
			}
		}
		tc.clock.Advance(31 * time.Minute)
		if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET / past the session's maximum age: %d, want a redirect", resp.StatusCode)
		}
	})
}

func TestConsole_NewAdminTokenEndsSessions(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	b := tc.Browser(t)
	b.MustLogin()
	if _, err := tc.admin.Ensure(t.Context(), "a-new-admin-token-after-a-leak"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / after the admin token changed: %d, want a redirect to /login", resp.StatusCode)
	}
}

func TestConsole_StoreUpdate(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	st := tc.MustStore(t, "lisbon", 1)
	b := tc.Browser(t)
	b.MustLogin()
	csrf := b.MustCSRF("/stores")
	path := "/stores/" + strconv.FormatInt(st.ID, 10)
	buffer := func() int64 {
		got, err := tc.stores.Store(t.Context(), st.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Buffer
	}

	t.Run("WrongCSRF", func(t *testing.T) {
		for _, token := range []string{"", "forged", csrf + "x"} {
			if resp, _ := b.Do("POST", path, url.Values{"csrf": {token}, "policy": {"mirror"}, "buffer": {"9"}}); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("update with csrf %q: %d, want 403", token, resp.StatusCode)
			}
		}
		if got := buffer(); got != 1 {
			t.Fatalf("buffer=%d after refused updates, want 1", got)
		}
	})

	t.Run("OtherOrigin", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", tc.ts.URL+path,
			strings.NewReader(url.Values{"csrf": {csrf}, "policy": {"mirror"}, "buffer": {"9"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || buffer() != 1 {
			t.Fatalf("update from another origin: %d, buffer %d: want 403 and no change", resp.StatusCode, buffer())
		}
	})

	t.Run("AnotherSessionsToken", func(t *testing.T) {
		other := tc.Browser(t)
		other.MustLogin()
		if resp, _ := other.Do("POST", path, url.Values{"csrf": {csrf}, "policy": {"mirror"}, "buffer": {"9"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("update with another session's token: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		resp, body := b.Do("POST", path, url.Values{"csrf": {csrf}, "policy": {"mirror"}, "buffer": {"-2"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "must not be negative") {
			t.Fatalf("negative buffer: %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("OK", func(t *testing.T) {
		resp, body := b.Do("POST", path, url.Values{"csrf": {csrf}, "policy": {"mirror"}, "buffer": {"4"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("update: %d: %s", resp.StatusCode, body)
		}
		if got, want := buffer(), int64(4); got != want {
			t.Fatalf("buffer=%d, want %d", got, want)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
