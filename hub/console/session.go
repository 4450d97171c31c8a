package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// cookieName names the session cookie.
const cookieName = "stockwire_console"

// session is a logged-in browser, as one request sees it.
type session struct {
	id   string // the cookie's value; never logged
	csrf string // what the session's forms carry
}

// csrfToken derives a session's form token from its id: only the
// session's own pages know it, and the database, which keeps a hash of the
// id, cannot make it.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("stockwire console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSessionID returns 256 random bits, URL-safe.
func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errNoSession: the request carries no live session.
var errNoSession = errors.New("no console session")

// session returns the request's live session and marks it seen.
func (c *Console) session(r *http.Request) (session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return session{}, errNoSession
	}
	now := c.Now()
	err = c.Sessions.TouchConsoleSession(r.Context(), ck.Value, now, now.Add(-c.MaxAge), now.Add(-c.IdleTimeout))
	if hub.ErrorCode(err) == hub.EUNAUTHORIZED {
		return session{}, errNoSession
	} else if err != nil {
		return session{}, err
	}
	return session{id: ck.Value, csrf: csrfToken(ck.Value)}, nil
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// sameOrigin refuses a request another site made the browser send: its
// Sec-Fetch-Site, when the browser sends one, must be same-origin, and its
// Origin, when set, must be this host.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// validCSRF reports whether the form carries the session's token.
func validCSRF(r *http.Request, s session) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) == 1
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, err := c.session(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", session{}, loginData{})
}

// loginData feeds login.html.
type loginData struct {
	Error string
}

// login starts a session for the admin token. A wrong token counts as a
// failed authentication of the client's address.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !sameOrigin(r) {
		c.render(w, r, http.StatusForbidden, "login", session{}, loginData{Error: "This form must be sent from the console's own page."})
		return
	}
	if c.Limiter != nil {
		if wait := c.Limiter.RetryAfter(r); wait > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			c.render(w, r, http.StatusTooManyRequests, "login", session{}, loginData{Error: "Too many failed logins from this address; try again later."})
			return
		}
	}
	err := c.Admin.CheckAdminToken(r.Context(), r.PostFormValue("token"))
	if hub.ErrorCode(err) == hub.EUNAUTHORIZED {
		if c.Limiter != nil {
			c.Limiter.Fail(r)
		}
		c.render(w, r, http.StatusUnauthorized, "login", session{}, loginData{Error: "That is not the admin token."})
		return
	} else if err != nil {
		c.fail(w, r, session{}, err)
		return
	}
	id := newSessionID()
	if err := c.Sessions.StartConsoleSession(r.Context(), id, c.Now()); err != nil {
		c.fail(w, r, session{}, err)
		return
	}
	c.Logger.Info("console login", "remote_addr", r.RemoteAddr)
	c.setCookie(w, r, id, int(c.MaxAge/time.Second))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session (and forgets those long idle).
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s session) error {
	if err := c.Sessions.EndConsoleSession(r.Context(), s.id, c.Now().Add(-c.IdleTimeout)); err != nil {
		return err
	}
	c.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
