package systest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
)

// AdminToken is the admin API token of the hubs StartHub runs.
const AdminToken = "systest-admin-token-0123456789"

// HubOptions shape a hub process.
type HubOptions struct {
	// DatabaseURL is the hub's database (pgtest.NewDB or NewEmptyDB: the
	// hub migrates it). Required.
	DatabaseURL string
	// Name names the process and, when set, is its --replica-name.
	Name string
	// Args are more `hub serve` flags.
	Args []string
	// TLSCert and TLSKey, when set, make the hub serve https; HTTP must
	// then trust the certificate.
	TLSCert, TLSKey string
	HTTP            *http.Client
}

// Hub is a hub process serving on a loopback address. Stopped or killed,
// it starts again on the same address, database and data dir.
type Hub struct {
	Addr string
	Proc *launch.Proc

	tb      testing.TB
	opts    HubOptions
	dataDir string
}

// StartHub starts `hub serve` and waits until it is ready. It is stopped
// when tb ends.
func StartHub(tb testing.TB, o HubOptions) *Hub {
	tb.Helper()
	if o.DatabaseURL == "" {
		tb.Fatal("systest: StartHub without a database URL")
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	h := &Hub{Addr: FreeAddr(tb), tb: tb, opts: o, dataDir: tb.TempDir()}
	h.Start()
	return h
}

// URL is the hub's base URL, as an agent's --hub takes it.
func (h *Hub) URL() string {
	if h.opts.TLSCert != "" {
		return "https://" + h.Addr
	}
	return "http://" + h.Addr
}

// Start (re)starts the hub and waits until it answers /readyz.
func (h *Hub) Start() {
	h.tb.Helper()
	name := h.opts.Name
	args := []string{"serve", "--listen", h.Addr, "--database-url", h.opts.DatabaseURL, "--admin-token", AdminToken,
		"--data-dir", h.dataDir, "--log-format", "text"}
	if name != "" {
		args = append(args, "--replica-name", name)
	} else {
		name = "hub"
	}
	if h.opts.TLSCert != "" {
		args = append(args, "--tls-cert", h.opts.TLSCert, "--tls-key", h.opts.TLSKey)
	}
	p := StartProgram(h.tb, name, Binary(h.tb, "hub"), append(args, h.opts.Args...), nil)
	h.Proc = p
	WaitFor(h.tb, 30*time.Second, name+" ready", func() error {
		if exited, err := p.Exited(); exited {
			h.tb.Fatalf("%s exited: %v; output:\n%s", name, err, Output(h.tb, p))
		}
		resp, err := h.opts.HTTP.Get(h.URL() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// Stop stops the hub with SIGTERM, failing tb unless it exits.
func (h *Hub) Stop() {
	h.tb.Helper()
	if err := h.Proc.Stop(stopTimeout); err != nil {
		h.tb.Fatal(err)
	}
}

// Kill kills the hub with SIGKILL.
func (h *Hub) Kill() { h.Proc.Kill() }

// Client is the hub's API client, with the admin token.
func (h *Hub) Client() *hubapi.Client {
	return &hubapi.Client{BaseURL: h.URL(), AdminToken: AdminToken, HTTP: h.opts.HTTP}
}

// API calls the hub's admin API with body as JSON and decodes the answer
// into out.
func (h *Hub) API(method, path string, body, out any) error {
	return h.Client().DoJSON(h.tb.Context(), method, path, body, out)
}

// MustAPI is API failing tb on an error.
func (h *Hub) MustAPI(method, path string, body, out any) {
	h.tb.Helper()
	if err := h.API(method, path, body, out); err != nil {
		h.tb.Fatal(err)
	}
}

// CreateStore registers a store with policy (mirror, allocate, …) and no
// buffer, and returns its id and agent credential.
func (h *Hub) CreateStore(name, storeURL, policy string) (id int64, token string) {
	h.tb.Helper()
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	h.MustAPI(http.MethodPost, "/api/v1/stores", map[string]any{"name": name, "url": storeURL, "policy": policy, "buffer": 0}, &out)
	return out.ID, out.Token
}

// HubStore is a store as GET /api/v1/stores lists it: what the tests look
// at.
type HubStore struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Agent struct {
		Connected bool   `json:"connected"`
		Replica   string `json:"replica"`
	} `json:"agent"`
}

// Stores lists the hub's stores.
func (h *Hub) Stores() ([]HubStore, error) {
	var list struct {
		Stores []HubStore `json:"stores"`
	}
	if err := h.API(http.MethodGet, "/api/v1/stores", nil, &list); err != nil {
		return nil, err
	}
	return list.Stores, nil
}

// StoresNamed lists the hub's stores called name.
func (h *Hub) StoresNamed(name string) ([]HubStore, error) {
	stores, err := h.Stores()
	if err != nil {
		return nil, err
	}
	var named []HubStore
	for _, s := range stores {
		if s.Name == name {
			named = append(named, s)
		}
	}
	return named, nil
}

// WaitConnected waits until the hub has one store called name and shows
// its agent connected (want) or not.
func (h *Hub) WaitConnected(name string, want bool) {
	h.tb.Helper()
	WaitFor(h.tb, 30*time.Second, fmt.Sprintf("hub shows %s connected=%v", name, want), func() error {
		stores, err := h.StoresNamed(name)
		if err != nil {
			return err
		}
		if len(stores) != 1 {
			return fmt.Errorf("%d stores named %s, want 1", len(stores), name)
		}
		if got := stores[0].Agent.Connected; got != want {
			return fmt.Errorf("connected=%v", got)
		}
		return nil
	})
}
