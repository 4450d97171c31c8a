// Connection pools shared by the stores of one host.

package wooclient

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Pools shares one HTTP connection pool (http.Transport) among the stores
// of one host: the sites of a WordPress multisite network, or an agency's
// stores on one server, served by one multi-store agent. Their requests
// then reuse each other's idle keep-alive connections (and TLS sessions)
// instead of each store holding its own. Each store keeps its own Client,
// so its own rate limit, retries and timeouts; and since the pool does not
// bound the connections in use, a store that hangs holds only its own
// requests' connections. It is safe for concurrent use; the zero value is
// ready.
type Pools struct {
	// MaxIdlePerHost bounds the idle connections kept for one host, all
	// its stores together. Defaults to 32.
	MaxIdlePerHost int

	mu    sync.Mutex
	hosts map[string]*pool // by scheme://host:port; guarded by mu
}

// pool is one host's shared client and the number of stores using it.
type pool struct {
	client *http.Client
	users  int
}

// Client returns the HTTP client for the store at baseURL, shared with the
// other stores of its scheme, host and port, and the function that gives
// it back once the store's Client is no longer used. The last store of a
// host to give it back closes its idle connections.
func (p *Pools) Client(baseURL string) (*http.Client, func(), error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse store url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, nil, fmt.Errorf("store url %q: want http(s)://host[/path]", baseURL)
	}
	key := u.Scheme + "://" + strings.ToLower(u.Host)
	if u.Port() == "" {
		key += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hosts == nil {
		p.hosts = map[string]*pool{}
	}
	h := p.hosts[key]
	if h == nil {
		idle := p.MaxIdlePerHost
		if idle <= 0 {
			idle = 32
		}
		h = &pool{client: NewHTTPClient(idle)}
		p.hosts[key] = h
	}
	h.users++
	var once sync.Once
	release := func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if h.users--; h.users == 0 {
				delete(p.hosts, key)
				h.client.CloseIdleConnections()
			}
		})
	}
	return h.client, release, nil
}
