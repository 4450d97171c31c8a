package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stockwire/stockwire/shared/hubapi"
)

// maxAuthClients bounds the client addresses whose failures are
// remembered; beyond it, those that have earned back their whole burst are
// forgotten first.
const maxAuthClients = 10_000

// authLimiter limits failed authentications per client address: each
// failure takes a token from the address's bucket, and an address with an
// empty bucket is refused (429) before its credential is even checked, so
// that guessing tokens is slow whatever it guesses.
type authLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*rate.Limiter // by client address; guarded by mu
}

// clientAddr is the address a request came from (the proxy's, behind one).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfter returns how long the request's address must wait before it
// may try a credential again; 0 if it may now.
func (l *authLimiter) retryAfter(r *http.Request) time.Duration {
	if l.limit == rate.Inf {
		return 0
	}
	l.mu.Lock()
	lim := l.clients[clientAddr(r)]
	l.mu.Unlock()
	if lim == nil {
		return 0
	}
	if l.limit <= 0 {
		return time.Hour // no refill: an address over its burst stays refused
	}
	tokens := lim.Tokens()
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
}

// fail records a failed authentication from the request's address.
func (l *authLimiter) fail(r *http.Request) {
	addr := clientAddr(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[addr]
	if lim == nil {
		if l.clients == nil {
			l.clients = map[string]*rate.Limiter{}
		}
		if len(l.clients) >= maxAuthClients {
			l.forget()
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.clients[addr] = lim
	}
	lim.Allow()
}

// forget drops the addresses whose bucket is full again, or, if none is,
// one address. Called with mu held.
func (l *authLimiter) forget() {
	for addr, lim := range l.clients {
		if lim.Tokens() >= float64(l.burst) {
			delete(l.clients, addr)
		}
	}
	for addr := range l.clients {
		if len(l.clients) < maxAuthClients {
			break
		}
		delete(l.clients, addr)
	}
}

// writeTooManyFailures answers 429 with Retry-After in whole seconds.
func writeTooManyFailures(w http.ResponseWriter, wait time.Duration) {
	secs := int64(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	writeJSON(w, http.StatusTooManyRequests, hubapi.ErrorBody{Error: hubapi.ErrorDetail{
		Code: hubapi.CodeTooManyRequests, Message: "Too many failed authentications from this address; try again later.",
	}})
}

// AuthFailures is a server's limit on failed authentications, for
// handlers mounted beside the API (the console's login) to share: a
// guesser gets one budget, whichever door it knocks at.
type AuthFailures struct{ s *Server }

// AuthFailures returns the server's limit on failed authentications.
func (s *Server) AuthFailures() AuthFailures { return AuthFailures{s} }

// RetryAfter returns how long the request's address must wait before it
// may try a credential again; 0 if it may now.
func (a AuthFailures) RetryAfter(r *http.Request) time.Duration {
	return a.s.authLimiter().retryAfter(r)
}

// Fail records a failed authentication from the request's address.
func (a AuthFailures) Fail(r *http.Request) { a.s.authLimiter().fail(r) }
