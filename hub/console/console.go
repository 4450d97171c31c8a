package console

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stockwire/stockwire/hub"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// FailureLimiter limits failed logins per client address. hub/web's
// authentication limit implements it, so that guessing the admin token is
// as slow through the console as through the API.
type FailureLimiter interface {
	// RetryAfter returns how long the request's address must wait before
	// it may try a token again; 0 if it may now.
	RetryAfter(r *http.Request) time.Duration
	// Fail records a failed login from the request's address.
	Fail(r *http.Request)
}

// Console serves the operator console. Set the services, then Register its
// routes; Close ends its event streams.
type Console struct {
	Admin      hub.AdminAuth
	Sessions   hub.ConsoleSessionService
	Queries    hub.ConsoleQueries
	Stores     hub.StoreService
	Inventory  hub.InventoryService
	Allocation hub.AllocationService
	// Orders is also the console's hub.ProblemService and
	// hub.OrderCommandService when it implements them.
	Orders hub.OrderService
	// Webhooks lists failing and dead deliveries and replays them.
	// Optional: without it the console shows no webhooks.
	Webhooks hub.WebhookService
	// Limiter limits failed logins. Optional: nil limits nothing.
	Limiter FailureLimiter
	Logger  *slog.Logger

	// IdleTimeout ends a session that loaded no page for this long.
	// Defaults to 2 hours.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after login, however busy. Defaults
	// to 12 hours.
	MaxAge time.Duration
	// PollInterval is how often an event stream looks for changes that no
	// Notify announced (an order with no stock effect, another replica's
	// store settings). Defaults to 2 seconds.
	PollInterval time.Duration
	// Now is the clock sessions expire by. Defaults to time.Now.
	Now func() time.Time

	pages     map[string]*template.Template // by page name
	changed   changeSignal
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// New returns a console with its defaults; set the services before
// serving.
func New(logger *slog.Logger) *Console {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Console{
		Logger:       logger,
		IdleTimeout:  2 * time.Hour,
		MaxAge:       12 * time.Hour,
		PollInterval: 2 * time.Second,
		Now:          time.Now,
		pages:        parsePages(),
		changed:      newChangeSignal(),
		done:         make(chan struct{}),
	}
}

// Register mounts the console's routes with mount (hub/web's Server.Mount,
// or an http.ServeMux's Handle).
func (c *Console) Register(mount func(pattern string, h http.Handler)) {
	mount("GET /{$}", c.page(c.overview))
	mount("GET /stores", c.page(c.storesPage))
	mount("POST /stores/{id}", c.action(c.updateStore))
	mount("GET /skus", c.page(c.skusPage))
	mount("GET /orders", c.page(c.ordersPage))
	mount("GET /problems", c.page(c.problemsPage))
	mount("POST /problems/deliveries/{id}/replay", c.action(c.replayDelivery))
	mount("POST /problems/deliveries/replay", c.action(c.replayDead))
	mount("POST /problems/webhooks/{id}/enable", c.action(c.enableWebhook))
	mount("GET /events", http.HandlerFunc(c.events))
	mount("GET /login", http.HandlerFunc(c.loginForm))
	mount("POST /login", http.HandlerFunc(c.login))
	mount("POST /logout", c.action(c.logout))
	mount("GET /console/", http.StripPrefix("/console/", http.FileServerFS(mustSub(staticFS, "static"))))
}

// Notify tells the open event streams that something may have changed.
// It never blocks.
func (c *Console) Notify() { c.changed.broadcast() }

// Close ends the event streams, so that the HTTP server's shutdown need
// not wait for them. It is idempotent.
func (c *Console) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}
