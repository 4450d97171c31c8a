package docstest_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stockwire/stockwire/shared/systest"
)

// TestCompose loads compose.yaml with the Compose specification's own
// loader (schema validation, interpolation with the file's defaults and an
// empty environment, consistency checks) and checks it against the
// Dockerfile and the binaries:
//
//   - every service has an image with a tag, or a build whose Dockerfile
//     and target stage exist;
//   - a service built from the Dockerfile runs the binary of its stage's
//     ENTRYPOINT; its command's flags are ones that binary takes (it runs
//     them with --help appended), and every STOCKWIRE_/WOOSIM_ variable
//     its environment, entrypoint or stage sets is one the binary names in
//     its --help (shared/envflag), not a copied list;
//   - every port is published on 127.0.0.1 and, for our binaries, is the
//     port of an address the service listens on, on 0.0.0.0;
//   - every healthcheck has a test, an interval, a timeout and retries,
//     and every service_healthy dependency has one;
//   - every Prometheus target in dashboards/prometheus.yml names a
//     service (or alias) listening on that port on 0.0.0.0.
func TestCompose(t *testing.T) {
	t.Parallel()
	opts, err := cli.NewProjectOptions([]string{"../../compose.yaml"}, cli.WithWorkingDirectory("../.."), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(project.Services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	dockerfile := readFile(t, "../../Dockerfile")
	listening := map[string][]string{} // service → addresses it listens on

	for name, s := range project.Services {
		t.Run(name, func(t *testing.T) {
			checkHealth(t, project, s)
			var bin string
			switch {
			case s.Build != nil:
				bin = checkBuild(t, s, dockerfile)
			case s.Image == "":
				t.Fatal("neither image nor build")
			case !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest"):
				t.Fatalf("image %s has no pinned tag", s.Image)
			}
			for _, p := range s.Ports {
				if p.HostIP != "127.0.0.1" {
					t.Errorf("port %d is published on %q, want 127.0.0.1", p.Target, p.HostIP)
				}
			}
			if bin == "" {
				return
			}
			addrs := checkBinary(t, s, bin, stage(t, dockerfile, s.Build.Target))
			listening[name] = addrs
			for _, p := range s.Ports {
				if !slices.Contains(addrs, "0.0.0.0:"+strconv.Itoa(int(p.Target))) {
					t.Errorf("port %d is published, but %s listens on %v", p.Target, bin, addrs)
				}
			}
		})
	}

	t.Run("PrometheusTargets", func(t *testing.T) {
		targets := regexp.MustCompile(`"([a-z0-9-]+:[0-9]+)"`).FindAllStringSubmatch(readFile(t, "../../dashboards/prometheus.yml"), -1)
		if len(targets) == 0 {
			t.Fatal("no targets in dashboards/prometheus.yml")
		}
		for _, m := range targets {
			host, port, _ := net.SplitHostPort(m[1])
			var addrs []string
			for _, name := range namespace(project, host) {
				addrs = append(addrs, listening[name]...)
			}
			if !slices.Contains(addrs, "0.0.0.0:"+port) {
				t.Errorf("prometheus scrapes %s, but %s listens on %v", m[1], host, addrs)
			}
		}
	})
}

// checkHealth checks s's healthcheck and that those it waits healthy have
// one.
func checkHealth(t *testing.T, project *types.Project, s types.ServiceConfig) {
	t.Helper()
	if h := s.HealthCheck; h != nil && !h.Disable {
		if len(h.Test) == 0 || h.Interval == nil || h.Timeout == nil || h.Retries == nil {
			t.Errorf("healthcheck %+v lacks a test, interval, timeout or retries", h)
		}
	}
	for dep, d := range s.DependsOn {
		if d.Condition != types.ServiceConditionHealthy {
			continue
		}
		if h := project.Services[dep].HealthCheck; h == nil || h.Disable || len(h.Test) == 0 {
			t.Errorf("waits for %s to be healthy, which has no healthcheck", dep)
		}
	}
}

// checkBuild checks that s's Dockerfile and target stage exist and returns
// the binary the stage runs.
func checkBuild(t *testing.T, s types.ServiceConfig, dockerfile string) string {
	t.Helper()
	if got, want := filepath.Base(s.Build.Dockerfile), "Dockerfile"; got != want {
		t.Fatalf("builds from %s; the test reads %s", s.Build.Dockerfile, want)
	}
	if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/([a-z-]+)"\]`).FindStringSubmatch(stage(t, dockerfile, s.Build.Target))
	if m == nil {
		t.Fatalf("stage %s has no ENTRYPOINT [\"/usr/local/bin/…\"]", s.Build.Target)
	}
	return m[1]
}

// checkBinary checks s's command flags and variables against bin's --help
// and returns the addresses s listens on.
func checkBinary(t *testing.T, s types.ServiceConfig, bin, stage string) []string {
	t.Helper()
	args := []string(s.Command)
	help, err := exec.CommandContext(t.Context(), systest.Binary(t, bin), append(slices.Clone(args), "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --help: %v\n%s", bin, strings.Join(args, " "), err, help)
	}
	reads := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[([A-Z][A-Z0-9_]*)\]|also ([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(string(help), -1) {
		reads[m[1]+m[2]] = true
	}
	set := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			set[k] = *v
		} else {
			set[k] = ""
		}
	}
	ours := regexp.MustCompile(`\b((?:STOCKWIRE|WOOSIM)_[A-Z0-9_]+)=`)
	for _, src := range []string{strings.Join(s.Entrypoint, " "), stage} {
		for _, m := range ours.FindAllStringSubmatch(src, -1) {
			set[m[1]] = ""
		}
	}
	for k := range set {
		if !reads[k] {
			t.Errorf("sets %s, which %s does not read (its --help names %d variables)", k, bin, len(reads))
		}
	}
	var addrs []string
	for i, a := range args {
		if (a == "--listen" || a == "--metrics-listen") && i+1 < len(args) {
			addrs = append(addrs, args[i+1])
		}
	}
	for _, k := range []string{"STOCKWIRE_LISTEN", "STOCKWIRE_METRICS_LISTEN", "WOOSIM_LISTEN"} {
		if v := set[k]; v != "" {
			addrs = append(addrs, v)
		}
	}
	return addrs
}

// stage returns the text of the Dockerfile's stage named target.
func stage(t *testing.T, dockerfile, target string) string {
	t.Helper()
	from := regexp.MustCompile(`(?m)^FROM \S+ AS (\S+)\s*$`)
	idx := from.FindAllStringSubmatchIndex(dockerfile, -1)
	for i, m := range idx {
		if dockerfile[m[2]:m[3]] != target {
			continue
		}
		end := len(dockerfile)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		return dockerfile[m[0]:end]
	}
	t.Fatalf("the Dockerfile has no stage %q", target)
	return ""
}

// namespace returns the services reachable as host: the service or the
// one with that network alias, and those sharing its network namespace.
func namespace(project *types.Project, host string) []string {
	var owner string
	for name, s := range project.Services {
		if name == host {
			owner = name
		}
		for _, n := range s.Networks {
			if n != nil && slices.Contains(n.Aliases, host) {
				owner = name
			}
		}
	}
	if owner == "" {
		return nil
	}
	names := []string{owner}
	for name, s := range project.Services {
		if s.NetworkMode == "service:"+owner {
			names = append(names, name)
		}
	}
	return names
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
