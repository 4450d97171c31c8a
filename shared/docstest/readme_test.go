package docstest_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/systest"
)

// readmePath is the repository's README, from this package's directory.
const readmePath = "../../README.md"

// walkthroughSection is the README section whose shell blocks
// TestREADME_Walkthrough runs.
const walkthroughSection = "Running it for real"

// TestREADME_Walkthrough runs the ```sh blocks of README.md's "Running it
// for real" section with bash, literally, in one session (set -euo
// pipefail), in a fresh directory whose bin/ holds the hub and agent the
// systest rig built. The conventions the README states:
//
//   - a command ending in & is a server (in real life, its own terminal or
//     a service): it runs in the background until the test ends, when it
//     gets SIGTERM;
//   - a commented command, a line "# bin/…", is an alternative not run: the
//     test runs it with --help appended, so its command and flags must
//     exist.
//
// Only placeholders change: the hosts (https://eu.example.com, the store,
// becomes a woosim; https://hub.example.com and https://agent-eu.example.com
// the hub and agent on free loopback ports, as do 127.0.0.1:8080 and
// 127.0.0.1:8090), the REST keys ck_…/cs_…, the data dirs under /var/lib and
// the SKU TEE-M (one of woosim's). Where the README leaves an address to a
// default, the environment moves it: STOCKWIRE_LISTEN and STOCKWIRE_HUB
// (the hub's listener and the CLI's --hub), and STOCKWIRE_METRICS_LISTEN=""
// (the agent's metrics listener, 127.0.0.1:9464, off).
//
// Then the store must be linked (the hub shows its agent online) and show
// the count the walkthrough set. A renamed flag, a changed API body or a
// missing token file fails it.
func TestREADME_Walkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README walkthrough needs %s: .ci/ensure-packages %s (%v)", tool, tool, err)
		}
	}
	blocks := shellBlocks(t, readmePath, walkthroughSection)

	sim := systest.StartWoosim(t, systest.WoosimOptions{ConsumerKey: "ck_" + strings.Repeat("a1", 20),
		ConsumerSecret: "cs_" + strings.Repeat("b2", 20), Products: 1, Stock: 5})
	sku := sim.SKUs()[0]
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hub", "agent"} {
		if err := os.Symlink(systest.Binary(t, name), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	hubAddr, agentAddr := systest.FreeAddr(t), systest.FreeAddr(t)
	hubDir := systest.PostgresDir(t) // the hub's private PostgreSQL lives in it
	agentDir := filepath.Join(dir, "agent-data")
	script := strings.NewReplacer(
		"https://hub.example.com", "http://"+hubAddr,
		"https://agent-eu.example.com", "http://"+agentAddr,
		"https://eu.example.com", sim.URL,
		"127.0.0.1:8080", hubAddr,
		"127.0.0.1:8090", agentAddr,
		"ck_…", sim.ConsumerKey,
		"cs_…", sim.ConsumerSecret,
		"/var/lib/stockwire-agent", agentDir,
		"/var/lib/stockwire", hubDir,
		"TEE-M", sku,
	).Replace(strings.Join(blocks, "\n"))
	env := append(environWithout("STOCKWIRE_"), "PATH="+bin+":"+os.Getenv("PATH"),
		"STOCKWIRE_LISTEN="+hubAddr, "STOCKWIRE_HUB=http://"+hubAddr, "STOCKWIRE_METRICS_LISTEN=")

	t.Run("Alternatives", func(t *testing.T) {
		alternatives := regexp.MustCompile(`(?m)^#\s*(bin/\S+ .*)$`).FindAllStringSubmatch(script, -1)
		if len(alternatives) == 0 {
			t.Fatal("no commented alternative (# bin/…) in the walkthrough")
		}
		for _, a := range alternatives {
			cmd := exec.CommandContext(t.Context(), "bash", "-c", a[1]+" --help")
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s --help: %v\n%s", a[1], err, out)
			}
		}
	})

	log := filepath.Join(dir, "walkthrough.log")
	out := runWalkthrough(t, dir, env, script, log)
	out.log = log
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("--- script ---\n%s\n--- output (%s) ---\n%s", script, log, b)
		}
	}()
	if err := out.wait(90 * time.Second); err != nil {
		t.Fatalf("walkthrough: %v", err)
	}

	token, err := os.ReadFile(filepath.Join(hubDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	hub := &hubapi.Client{BaseURL: "http://" + hubAddr, AdminToken: strings.TrimSpace(string(token)), HTTP: http.DefaultClient}
	var stores hubapi.StoreList
	if err := hub.DoJSON(t.Context(), http.MethodGet, "/api/v1/stores", nil, &stores); err != nil {
		t.Fatal(err)
	}
	if len(stores.Stores) != 1 || stores.Stores[0].Name != "eu" || !stores.Stores[0].Agent.Connected {
		t.Fatalf("stores %+v, want eu, its agent connected", stores.Stores)
	}
	systest.WaitFor(t, 30*time.Second, "the store shows the walkthrough's count", func() error {
		n, err := sim.Stock(sku)
		if err != nil {
			return err
		}
		if n != 40 {
			return fmt.Errorf("stock of %s=%d, want 40", sku, n)
		}
		return nil
	})
	if err := out.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "WARNING: DATA RACE") {
		t.Fatal("the race detector reported in the walkthrough's processes")
	}
	if got := strings.Count(string(b), hub.AdminToken); got != 1 {
		t.Fatalf("the generated admin token appears %d times in the output, want once (shown once, never logged)", got)
	}
}

// shellBlocks returns the ```sh blocks of the markdown file's section
// (from its "## title" to the next "## ").
func shellBlocks(t *testing.T, path, title string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) == 0 {
		t.Fatalf("section %q of %s has no sh block", title, path)
	}
	return blocks
}

// environWithout is the test's environment less the variables with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// walkthrough is the bash session running the README's lines.
type walkthrough struct {
	cmd  *exec.Cmd
	log  string
	done chan error // the end of the README's lines: nil when they all ran
	// exited is closed when bash has ended; exitErr then says how.
	exited  chan struct{}
	exitErr error
}

// runWalkthrough starts bash on script in dir with env, its output (and
// its servers') in log. After the README's lines it reports on fd 3 and
// waits, keeping its background servers its own children; on SIGTERM, or
// when a line fails, it stops them with SIGTERM and waits for them.
func runWalkthrough(t *testing.T, dir string, env []string, script, log string) *walkthrough {
	t.Helper()
	path := filepath.Join(dir, "walkthrough.sh")
	wrapped := "set -euo pipefail\n" +
		"trap 'kill -TERM $(jobs -p) 2>/dev/null || true; wait' EXIT\n" +
		script + "\n" +
		"echo ok >&3\n" +
		"trap 'exit 0' TERM\n" +
		"wait\n"
	if err := os.WriteFile(path, []byte(wrapped), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command("bash", path)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logFile, logFile
	cmd.ExtraFiles = []*os.File{w}
	// Its own process group: the last resort kills it whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wt := &walkthrough{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		defer r.Close()
		line, err := bufio.NewReader(r).ReadString('\n')
		if line == "ok\n" {
			wt.done <- nil
		} else {
			// The servers hold the pipe too: EOF comes once bash has
			// stopped them.
			wt.done <- fmt.Errorf("a line failed (%v)", err)
		}
	}()
	go func() {
		wt.exitErr = cmd.Wait()
		close(wt.exited)
	}()
	t.Cleanup(func() {
		if err := wt.stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return wt
}

// fatalLine is how the hub and the agent say why they stop.
var fatalLine = regexp.MustCompile(`(?m)^(hub|agent): .*$`)

// wait waits until every line of the README ran, or a server in the
// background said why it stopped (the README's wait loops would wait on).
func (wt *walkthrough) wait(timeout time.Duration) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-wt.done:
			if err != nil {
				select {
				case <-wt.exited:
					return fmt.Errorf("%w; bash: %v", err, wt.exitErr)
				case <-deadline:
				}
			}
			return err
		case <-tick.C:
			if b, _ := os.ReadFile(wt.log); fatalLine.Match(b) {
				return fmt.Errorf("a command failed: %s", fatalLine.Find(b))
			}
		case <-deadline:
			return fmt.Errorf("the lines did not finish within %v", timeout)
		}
	}
}

// stop sends bash SIGTERM, which stops its servers, and waits for it;
// after timeout it kills its process group. Stopping a stopped walkthrough
// returns nil.
func (wt *walkthrough) stop(timeout time.Duration) error {
	select {
	case <-wt.exited:
		return nil
	default:
	}
	if err := wt.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-wt.exited:
		return nil
	case <-time.After(timeout):
		syscall.Kill(-wt.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("the walkthrough's servers did not stop within %v of SIGTERM: killed", timeout)
	}
}
