// Package launch starts stockwire's own binaries as real child processes for
// the demo, the end-to-end tests and the benchmarks: build them once, start
// one with its output in a log file, wait until it answers, stop it with
// SIGTERM or kill it with SIGKILL. It knows nothing of what the processes do.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles every main package of the module into dir (go build
// flags -o dir ./...), run from the module root moduleDir.
func Build(ctx context.Context, moduleDir, dir string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", dir+string(os.PathSeparator), "./...")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Proc is one running child process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of the file holding its stdout and stderr

	done chan struct{}
	once sync.Once
	err  error // set before done is closed
}

// Start runs bin with args, env added to the current environment, output
// appended to logPath. extraOut, if set, also receives the output.
func Start(name, bin string, args, env []string, logPath string, extraOut io.Writer) (*Proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out io.Writer = f
	if extraOut != nil {
		out = io.MultiWriter(f, extraOut)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so Ctrl-C in a terminal reaches the parent only and
	// the parent stops children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended, and its wait error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits up to timeout, then SIGKILLs.
func (p *Proc) Stop(timeout time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return p.Kill()
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() error {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return nil
}

// WaitHTTP polls url until it answers 200, the process exits, or ctx ends.
func (p *Proc) WaitHTTP(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if exited, werr := p.Exited(); exited {
			return fmt.Errorf("%s exited before answering %s: %v (log %s)", p.Name, url, werr, p.Log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s: %w (log %s)", p.Name, url, ctx.Err(), p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreeAddr returns a free 127.0.0.1 address for a child to listen on. It
// never returns the same address twice in one process: a port handed out
// is free again until its child binds it, and the kernel may offer it to
// the next caller.
func FreeAddr() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		l.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr, nil
		}
	}
	return "", errors.New("no free 127.0.0.1 port not handed out before")
}

// handedOut holds the addresses FreeAddr returned.
var handedOut sync.Map

// Poll calls cond every 50 ms until it returns nil, ctx ends or timeout
// passes; the error names what was awaited and the last difference seen.
func Poll(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	return PollEvery(ctx, timeout, 50*time.Millisecond, what, cond)
}

// PollEvery is Poll with its period.
func PollEvery(ctx context.Context, timeout, period time.Duration, what string, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: not reached in %s: %w", what, timeout, err)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ModuleRoot returns the directory of the go.mod of the module the go
// command sees from the working directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the stockwire module: run from its directory")
	}
	return filepath.Dir(gomod), nil
}
