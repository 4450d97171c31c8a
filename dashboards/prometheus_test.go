package dashboards_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
)

// prometheus is a real Prometheus process scraping one system every second.
type prometheus struct {
	t    *testing.T
	base string
}

// forClause matches a rule's `for:` duration.
var forClause = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)

// startPrometheus runs /usr/bin/prometheus on loopback with temporary
// storage, scraping s's hub and agent at 1s and evaluating a copy of
// alerts.yml every second whose `for:` durations are cut to 1s, so that an
// alert fires within seconds of its condition.
func startPrometheus(t *testing.T, s *system) *prometheus {
	t.Helper()
	requireTool(t, prometheusBin, "prometheus")
	dir := t.TempDir()
	rules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(forClause.FindAll(rules, -1)), len(ruleExprs(t)); got != want {
		t.Fatalf("alerts.yml: %d for: clauses, %d alerts: give every alert a for:", got, want)
	}
	rules = forClause.ReplaceAll(rules, []byte("${1}1s"))
	rulesPath := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(rulesPath, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: stockwire-hub
    static_configs:
      - targets: [%q]
  - job_name: stockwire-agent
    static_configs:
      - targets: [%q]
`, rulesPath, s.hub.Addr, s.agent.MetricsListen)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := systest.FreeAddr(t)
	p := systest.StartProgram(t, "prometheus", prometheusBin, []string{
		"--config.file=" + configPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--log.level=warn"}, nil)
	systest.WaitHTTP(t, p, "http://"+addr+"/-/ready", 30*time.Second)
	return &prometheus{t: t, base: "http://" + addr}
}

// get calls the HTTP API and decodes its data into out.
func (p *prometheus) get(path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(p.t.Context(), http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// scalar returns the value of an instant query with one result.
func (p *prometheus) scalar(query string) (float64, error) {
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {query}}, &data); err != nil {
		return 0, err
	}
	if len(data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d results, want 1", query, len(data.Result))
	}
	str, _ := data.Result[0].Value[1].(string)
	return strconv.ParseFloat(str, 64)
}

// missingSeries returns the names among names with no series since start.
func (p *prometheus) missingSeries(names []string, start time.Time) ([]string, error) {
	var missing []string
	for _, name := range names {
		var series []map[string]string
		q := url.Values{"match[]": {name}, "start": {strconv.FormatInt(start.Unix(), 10)}}
		if err := p.get("/api/v1/series", q, &series); err != nil {
			return nil, err
		}
		if len(series) == 0 {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// firing returns the names of the alerts in state firing, with the given
// severity when severity is not empty.
func (p *prometheus) firing(severity string) ([]string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	var names []string
	for _, a := range data.Alerts {
		if a.State == "firing" && (severity == "" || a.Labels["severity"] == severity) {
			names = append(names, a.Labels["alertname"])
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// waitFiring waits until alert fires.
func (p *prometheus) waitFiring(alert string) {
	p.t.Helper()
	systest.WaitFor(p.t, 20*time.Second, alert+" firing", func() error {
		names, err := p.firing("")
		if err != nil {
			return err
		}
		if !slices.Contains(names, alert) {
			return fmt.Errorf("firing: %v", names)
		}
		return nil
	})
}

// rulesHealthy checks that Prometheus loaded exactly the alerts ruleExprs
// read, using the same metrics (Prometheus reformats expressions), and that
// each has been evaluated without error.
func (p *prometheus) rulesHealthy(want map[string]string) error {
	var data struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Query     string `json:"query"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", url.Values{"type": {"alert"}}, &data); err != nil {
		return err
	}
	var errs []error
	loaded := 0
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			loaded++
			if expr, ok := want[r.Name]; !ok {
				errs = append(errs, fmt.Errorf("%s: loaded by Prometheus, not found in alerts.yml by ruleExprs", r.Name))
			} else if got, read := metricsIn(r.Query), metricsIn(expr); !slices.Equal(got, read) {
				errs = append(errs, fmt.Errorf("%s: Prometheus's expr uses %v, ruleExprs read %v", r.Name, got, read))
			}
			if r.Health != "ok" {
				errs = append(errs, fmt.Errorf("%s: health %q %s", r.Name, r.Health, r.LastError))
			}
		}
	}
	if loaded != len(want) {
		errs = append(errs, fmt.Errorf("prometheus loaded %d alerts, alerts.yml has %d", loaded, len(want)))
	}
	return errors.Join(errs...)
}

// TestPrometheus_ScrapesEveryMetricAndFiresAlerts runs the system under a
// real Prometheus with alerts.yml: after a few checkouts, a hand edit in the
// store and a SKU the store lacks, no critical alert fires; killing the
// agent fires StockwireAgentDisconnected (and the hub's StockwireHubLostAgents);
// by then every series the dashboard and the rules use exists; killing the
// hub fires StockwireHubDown.
func TestPrometheus_ScrapesEveryMetricAndFiresAlerts(t *testing.T) {
	t.Parallel()
	requireTool(t, prometheusBin, "prometheus")
	start := time.Now()
	s := startSystem(t)
	prom := startPrometheus(t, s)
	rules := ruleExprs(t)

	skus := s.store.SKUs()
	const checkouts = 3
	for i := range checkouts {
		if err := s.store.Checkout(skus[i], 1); err != nil {
			t.Fatal(err)
		}
	}
	// A hand edit in the store's admin, which the agent reverts.
	if err := s.store.AdminEdit(skus[len(skus)-1], 1); err != nil {
		t.Fatal(err)
	}
	systest.WaitFor(t, 30*time.Second, "the hub commits the checkouts (as Prometheus sees it)", func() error {
		n, err := prom.scalar("sum(stockwire_hub_order_report_duration_seconds_count)")
		if err != nil {
			return err
		}
		if n < checkouts {
			return fmt.Errorf("%v order reports committed, want at least %d", n, checkouts)
		}
		return nil
	})
	systest.WaitFor(t, 30*time.Second, "the agent reverts the hand edit (as Prometheus sees it)", func() error {
		n, err := prom.scalar(`sum(stockwire_agent_stock_manual_edits_total{action="reverted"})`)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("%v hand edits reverted, want 1", n)
		}
		return nil
	})
	systest.WaitFor(t, 20*time.Second, "no critical alert while everything runs", func() error {
		names, err := prom.firing("critical")
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("firing: %v", names)
		}
		return nil
	})

	s.agent.Kill()
	prom.waitFiring("StockwireAgentDisconnected")
	prom.waitFiring("StockwireHubLostAgents")

	used := usedMetrics(t)
	systest.WaitFor(t, 20*time.Second, "a series for every metric the dashboard and the rules use", func() error {
		missing, err := prom.missingSeries(used, start)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("no series for %s", strings.Join(missing, ", "))
		}
		return nil
	})
	systest.WaitFor(t, 10*time.Second, "every rule loaded and evaluated without error", func() error {
		return prom.rulesHealthy(rules)
	})

	s.hub.Kill()
	prom.waitFiring("StockwireHubDown")
}
