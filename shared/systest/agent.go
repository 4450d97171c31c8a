package systest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
)

// AgentOptions shape an agent process serving one store.
type AgentOptions struct {
	// Name names the process; "agent" when empty.
	Name string
	// Hub is the agent's --hub: one hub URL, or several comma-separated.
	Hub      string
	StoreURL string
	// Token, ConsumerKey and ConsumerSecret go to the agent in its
	// environment, as in production.
	Token, ConsumerKey, ConsumerSecret string
	// Args are more agent flags (--poll-interval, …).
	Args []string
}

// Agent is an agent process listening on loopback addresses: Listen for
// webhooks and /healthz, MetricsListen for /metrics. Stopped or killed, it
// starts again on the same addresses and data dir.
type Agent struct {
	Listen        string
	MetricsListen string
	Proc          *launch.Proc

	tb      testing.TB
	opts    AgentOptions
	dataDir string
}

// StartAgent starts an agent, its public URL its listening address, and
// waits until it is healthy. It is stopped when tb ends.
func StartAgent(tb testing.TB, o AgentOptions) *Agent {
	tb.Helper()
	if o.Name == "" {
		o.Name = "agent"
	}
	a := &Agent{Listen: FreeAddr(tb), MetricsListen: FreeAddr(tb), tb: tb, opts: o, dataDir: filepath.Join(tb.TempDir(), "agent")}
	a.Start()
	return a
}

// Start (re)starts the agent and waits until it answers /healthz.
func (a *Agent) Start() {
	a.tb.Helper()
	args := append([]string{"--hub", a.opts.Hub, "--store-url", a.opts.StoreURL,
		"--listen", a.Listen, "--metrics-listen", a.MetricsListen, "--public-url", "http://" + a.Listen,
		"--data-dir", a.dataDir, "--log-format", "text"}, a.opts.Args...)
	env := []string{"STOCKWIRE_TOKEN=" + a.opts.Token,
		"STOCKWIRE_CONSUMER_KEY=" + a.opts.ConsumerKey, "STOCKWIRE_CONSUMER_SECRET=" + a.opts.ConsumerSecret}
	a.Proc = StartProgram(a.tb, a.opts.Name, Binary(a.tb, "agent"), args, env)
	WaitHTTP(a.tb, a.Proc, "http://"+a.Listen+"/healthz", 60*time.Second)
}

// Kill kills the agent with SIGKILL.
func (a *Agent) Kill() { a.Proc.Kill() }
