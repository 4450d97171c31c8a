package dashboards_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	prometheusBin = "/usr/bin/prometheus"
	promtoolBin   = "/usr/bin/promtool"
	chromiumBin   = "/usr/bin/chromium"
)

// requireTool fails t when bin is missing, naming the script that installs
// its Debian package. It never skips.
func requireTool(t *testing.T, bin, pkg string) {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run .ci/ensure-packages %s (as root on Debian/Ubuntu it installs it): %v", bin, pkg, err)
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	requireTool(t, promtoolBin, "prometheus")
	out, err := exec.CommandContext(t.Context(), promtoolBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlerts_PromtoolCheckRules(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "rules", "alerts.yml")
}

func TestPrometheusConfig_PromtoolCheckConfig(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "config", "prometheus.yml")
}

// dashboard is the part of a Grafana dashboard the tests look at.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Panels     []panel         `json:"panels"` // of a collapsed row
	Targets    []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("stockwire.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("stockwire.json: %v", err)
	}
	return d
}

// dashboardExprs returns every PromQL expression of the dashboard: panel
// targets and query variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	d := readDashboard(t)
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("stockwire.json: variable %s: %v", v.Name, err)
		}
		exprs = append(exprs, q.Query)
	}
	return exprs
}

var (
	alertLine = regexp.MustCompile(`^\s*- alert:\s*(\S+)\s*$`)
	exprLine  = regexp.MustCompile(`^(\s*)expr:\s*(.*?)\s*$`)
)

// ruleExprs returns each alert's expr from alerts.yml, by alert name: a
// one-line value or a literal block (`expr: |`). It reads only the layout
// alerts.yml uses; the live test compares it with what Prometheus loaded.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	lines := strings.Split(string(b), "\n")
	var alert string
	for i := 0; i < len(lines); i++ {
		if m := alertLine.FindStringSubmatch(lines[i]); m != nil {
			alert = m[1]
			continue
		}
		m := exprLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if alert == "" {
			t.Fatalf("alerts.yml:%d: expr outside an alert", i+1)
		}
		if m[2] != "|" {
			exprs[alert] = strings.Trim(m[2], `'"`)
			continue
		}
		var block []string
		for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || indent(lines[i+1]) > len(m[1])) {
			i++
			block = append(block, strings.TrimSpace(lines[i]))
		}
		exprs[alert] = strings.TrimSpace(strings.Join(block, "\n"))
	}
	if len(exprs) == 0 {
		t.Fatal("alerts.yml: no alert found")
	}
	return exprs
}

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// metricName finds the series names in PromQL: ours, the Go and process
// collectors' and up. Label values such as job="stockwire-hub" do not
// match.
var metricName = regexp.MustCompile(`\b(?:stockwire|process|go)_[a-z0-9_]+\b|\bup\b`)

// usedMetrics returns the sorted series names the dashboard and the rules
// use.
func usedMetrics(t *testing.T) []string {
	t.Helper()
	exprs := dashboardExprs(t)
	for _, e := range ruleExprs(t) {
		exprs = append(exprs, e)
	}
	return metricsIn(exprs...)
}

// metricsIn returns the sorted series names exprs use.
func metricsIn(exprs ...string) []string {
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	fullName      = regexp.MustCompile(`(?:Name:|NewDesc\()\s*"(stockwire_[a-z0-9_]+)"`)
	subsystemName = regexp.MustCompile(`Namespace:\s*"stockwire",\s*Subsystem:\s*"([a-z]+)",\s*Name:\s*"([a-z0-9_]+)"`)
)

// metricsInCode returns the metric names hub/ and agent/ define.
func metricsInCode(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, root := range []string{"../hub", "../agent"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range fullName.FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = true
			}
			for _, m := range subsystemName.FindAllStringSubmatch(string(b), -1) {
				names["stockwire_"+m[1]+"_"+m[2]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(names) == 0 {
		t.Fatal("no metric definition found in hub/ or agent/")
	}
	return names
}

func TestDashboard_Valid(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("stockwire.json: uid %q, title %q: both are needed for provisioning", d.UID, d.Title)
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, ok := ids[p.ID]; ok {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && (len(p.Targets) == 0 || len(p.Datasource) == 0) {
				t.Errorf("panel %q: needs a datasource and at least one target", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
					t.Errorf("panel %q: target %q has no expr or refId", p.Title, tg.RefID)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// TestMetrics_DefinedInCode checks every stockwire_ series the dashboard and
// the rules use against the metric definitions in hub/ and agent/ (a
// histogram's _bucket, _count and _sum included). The live test below
// proves the same against running processes.
func TestMetrics_DefinedInCode(t *testing.T) {
	t.Parallel()
	defined := metricsInCode(t)
	for _, name := range usedMetrics(t) {
		if !strings.HasPrefix(name, "stockwire_") {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && defined[b] {
				base = b
			}
		}
		if !defined[base] {
			t.Errorf("%s is used by the dashboard or the rules but defined nowhere in hub/ or agent/", name)
		}
	}
}

var (
	topLevelKey = regexp.MustCompile(`^([a-z_-]+):`)
	serviceKey  = regexp.MustCompile(`^  ([a-z0-9_-]+):\s*$`)
	localPath   = regexp.MustCompile(`(?:^|[\s"'\[])(\./[^\s:"',\]]+)`)
	buildTarget = regexp.MustCompile(`(?m)^\s+target:\s*(\S+)\s*$`)
)

// composeServices splits compose.yaml's services into their text, by name.
func composeServices(t *testing.T, compose string) map[string]string {
	t.Helper()
	services := map[string]string{}
	var inServices bool
	var current string
	for _, line := range strings.Split(compose, "\n") {
		if m := topLevelKey.FindStringSubmatch(line); m != nil {
			inServices, current = m[1] == "services", ""
			continue
		}
		if !inServices {
			continue
		}
		if m := serviceKey.FindStringSubmatch(line); m != nil {
			current = m[1]
		}
		if current != "" {
			services[current] += line + "\n"
		}
	}
	return services
}

// TestCompose_Structure is a light check of compose.yaml, since Docker is not
// available to run `docker compose config`: the services exist, every local
// file it names exists, the build targets exist in the Dockerfile, the hub
// and the agent listen on all interfaces inside their containers, and the
// Prometheus configuration it mounts passes promtool.
func TestCompose_Structure(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)
	services := composeServices(t, compose)
	for _, name := range []string{"postgres", "hub", "woosim", "agent", "prometheus", "grafana"} {
		if _, ok := services[name]; !ok {
			t.Errorf("compose.yaml: no service %q", name)
		}
	}
	// woosim listens on loopback in a namespace it shares with the agent.
	for _, name := range []string{"hub", "agent"} {
		if !strings.Contains(services[name], "0.0.0.0:") {
			t.Errorf("compose.yaml: service %s must listen on 0.0.0.0 inside its container", name)
		}
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range buildTarget.FindAllStringSubmatch(compose, -1) {
		if !regexp.MustCompile(`(?m)^FROM \S+ AS ` + regexp.QuoteMeta(m[1]) + `$`).Match(dockerfile) {
			t.Errorf("compose.yaml builds target %q, which Dockerfile does not define", m[1])
		}
	}
	if !strings.Contains(services["postgres"], "image: postgres:15") {
		t.Error("compose.yaml: postgres should run image postgres:15")
	}
	for _, m := range localPath.FindAllStringSubmatch(compose, -1) {
		if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
			t.Errorf("compose.yaml names %s: %v", m[1], err)
		}
	}
	promtool(t, "check", "config", "prometheus.yml")
}
