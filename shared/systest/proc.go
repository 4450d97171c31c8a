package systest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
)

// stopTimeout is how long a process gets to end after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// Start runs the module's command name (from Binaries) with args and env
// (KEY=value, added to the test's environment), its output in a log file
// of tb's. When tb ends the process is stopped (SIGTERM, then SIGKILL), tb
// fails if the race detector reported in the output, and a failed tb logs
// the output's end.
func Start(tb testing.TB, name string, args, env []string) *launch.Proc {
	tb.Helper()
	return StartProgram(tb, name, Binary(tb, name), args, env)
}

// StartProgram is Start for any program: bin is its path.
func StartProgram(tb testing.TB, name, bin string, args, env []string) *launch.Proc {
	tb.Helper()
	p, err := launch.Start(name, bin, args, env, filepath.Join(tb.TempDir(), name+".log"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Stop(stopTimeout)
		out := Output(tb, p)
		if strings.Contains(out, "WARNING: DATA RACE") {
			tb.Errorf("systest: the race detector reported in %s's output:\n%s", name, out)
		} else if tb.Failed() {
			logTail(tb, p)
		}
	})
	return p
}

// Output returns everything p has written so far.
func Output(tb testing.TB, p *launch.Proc) string {
	tb.Helper()
	b, err := os.ReadFile(p.Log)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// logTail logs the last lines of p's output.
func logTail(tb testing.TB, p *launch.Proc) {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	tb.Logf("--- last lines of %s (%s) ---\n%s", p.Name, p.Log, b)
}

// WaitHTTP waits until p answers 200 at url, failing tb with p's output
// when it exits first or timeout passes.
func WaitHTTP(tb testing.TB, p *launch.Proc, url string, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), timeout)
	defer cancel()
	if err := p.WaitHTTP(ctx, url); err != nil {
		tb.Fatalf("%v; output:\n%s", err, Output(tb, p))
	}
}
