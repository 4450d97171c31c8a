// Package pgcluster runs a private PostgreSQL cluster without any set-up: it
// initialises a data directory when it holds no cluster yet, starts the
// server listening on a Unix socket only (no TCP) and stops it. `hub serve`
// uses it when no database URL is given, and tests use it through
// shared/pgtest.
//
// It only manages the server process; schemas and queries belong to
// hub/postgres.
package pgcluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// Option tunes Start.
type Option func(*config)

type config struct {
	fsync          bool
	maxConnections int
}

// WithFsync turns fsync on (the default, for serve) or off (tests: faster,
// not crash safe).
func WithFsync(on bool) Option { return func(c *config) { c.fsync = on } }

// WithMaxConnections sets max_connections. Defaults to 200.
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConnections = n } }

// Cluster is a running PostgreSQL server owned by this process.
type Cluster struct {
	// Dir is the data directory.
	Dir string
	// SockDir is the directory holding the server's Unix socket.
	SockDir string

	bindir string
	cred   *syscall.Credential
	logger *slog.Logger
	opts   string // the server's command-line options (-o of pg_ctl)

	mu      sync.Mutex
	stopped bool // guarded by mu
}

// Start starts a cluster in dir, creating it with initdb when dir holds no
// cluster yet. Data persists across Stop and Start on the same dir; a stale
// postmaster.pid left by a killed run does not block the start.
func Start(ctx context.Context, dir string, logger *slog.Logger, opts ...Option) (*Cluster, error) {
	cfg := config{fsync: true, maxConnections: 200}
	for _, o := range opts {
		o(&cfg)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	bindir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bindir: bindir, logger: logger}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}

	// Parents we create must let the postgres user through (as root the
	// server runs as postgres); the data dir itself stays private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := c.chown(dir); err != nil {
		return nil, err
	}
	if err := c.checkReachable(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.run(ctx, "initdb", "-D", dir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--no-locale"); err != nil {
			return nil, fmt.Errorf("initdb %s: %w", dir, err)
		}
		logger.Info("postgres cluster created", "dir", dir)
	} else if err != nil {
		return nil, fmt.Errorf("stat data dir: %w", err)
	}
	if err := c.clearStalePID(ctx); err != nil {
		return nil, err
	}

	// The socket path must stay under ~107 bytes, so the socket lives in a
	// short directory under /tmp rather than next to the data.
	sock, err := os.MkdirTemp("/tmp", "swpg")
	if err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := os.Chmod(sock, 0o755); err != nil {
		return nil, fmt.Errorf("chmod socket dir: %w", err)
	}
	if err := c.chown(sock); err != nil {
		return nil, err
	}
	c.SockDir = sock

	fsync := "off"
	if cfg.fsync {
		fsync = "on"
	}
	pgopts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=%s -c max_connections=%d", sock, fsync, cfg.maxConnections)
	if !cfg.fsync {
		pgopts += " -c full_page_writes=off -c synchronous_commit=off"
	}
	c.opts = pgopts
	if err := c.start(ctx); err != nil {
		os.RemoveAll(sock)
		return nil, err
	}
	logger.Info("postgres started", "dir", dir, "socket_dir", sock, "fsync", cfg.fsync)
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	logfile := filepath.Join(c.Dir, "postgresql.log")
	if err := c.run(ctx, "pg_ctl", "-w", "-t", "60", "-D", c.Dir, "-l", logfile, "-o", c.opts, "start"); err != nil {
		return fmt.Errorf("start postgres in %s (log %s): %w", c.Dir, logfile, err)
	}
	return nil
}

// Crash stops the server at once, as a crash or a power cut would (every
// session is cut, the next start recovers from WAL), keeps it down for
// down and starts it again on the same socket, so DSN is unchanged. Clients
// see the database vanish and come back; a cluster that was stopped stays
// stopped.
func (c *Cluster) Crash(ctx context.Context, down time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("crash postgres: the cluster is stopped")
	}
	if err := c.run(ctx, "pg_ctl", "-w", "-t", "60", "-D", c.Dir, "-m", "immediate", "stop"); err != nil {
		return fmt.Errorf("crash postgres in %s: %w", c.Dir, err)
	}
	c.logger.Info("postgres crashed on purpose", "dir", c.Dir, "down", down)
	t := time.NewTimer(down)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	// Started even when ctx ended: a cluster left down would outlive its
	// owner's Stop.
	if err := c.start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	c.logger.Info("postgres started after the crash", "dir", c.Dir)
	return nil
}

// DSN returns a lib/pq connection string for dbname over the Unix socket.
func (c *Cluster) DSN(dbname string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", c.SockDir, dbname)
}

// CreateDatabase creates database name unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("open postgres database: %w", err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("check database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		var pqe *pq.Error
		if errors.As(err, &pqe) && pqe.Code.Name() == "duplicate_database" {
			return nil
		}
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast mode: sessions are disconnected,
// committed data is kept). It is idempotent.
func (c *Cluster) Stop() error {
	return c.stop("fast")
}

// Kill stops the server at once (immediate mode, as after a crash; data
// recovers from WAL at the next start). For throwaway test clusters.
func (c *Cluster) Kill() error {
	return c.stop("immediate")
}

func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	err := c.run(context.Background(), "pg_ctl", "-w", "-t", "60", "-D", c.Dir, "-m", mode, "stop")
	os.RemoveAll(c.SockDir)
	if err != nil {
		return fmt.Errorf("stop postgres in %s: %w", c.Dir, err)
	}
	c.logger.Info("postgres stopped", "dir", c.Dir)
	return nil
}

// StopWhenExits starts a small watcher process that stops the server
// (immediate mode) once process pid has exited, even if it was killed
// without a chance to call Stop. Tests use it so that a test binary killed
// by a timeout leaves no server behind.
func (c *Cluster) StopWhenExits(pid int) error {
	script := fmt.Sprintf(`while [ -e /proc/%d ]; do sleep 1; done; exec %q -D %q -m immediate stop >/dev/null 2>&1`,
		pid, filepath.Join(c.bindir, "pg_ctl"), c.Dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	if c.cred != nil {
		cmd.Dir = "/"
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres watcher: %w", err)
	}
	go reapWatcher(cmd) // it normally outlives us
	return nil
}

// reapWatcher reaps a cluster's watcher process if it ends first. Leak
// checks recognise the goroutine by this function.
func reapWatcher(cmd *exec.Cmd) { _ = cmd.Wait() }

// clearStalePID handles a postmaster.pid left behind by a killed run: if
// its process is a live postgres (an orphan of ours), stop it; otherwise
// remove the file so the start is not refused.
func (c *Cluster) clearStalePID(ctx context.Context) error {
	pidfile := filepath.Join(c.Dir, "postmaster.pid")
	b, err := os.ReadFile(pidfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read postmaster.pid: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err == nil && pid > 0 && isPostgres(pid) {
		c.logger.Warn("stopping orphaned postgres", "pid", pid, "dir", c.Dir)
		if err := c.run(ctx, "pg_ctl", "-w", "-t", "60", "-D", c.Dir, "-m", "fast", "stop"); err != nil {
			return fmt.Errorf("stop orphaned postgres %d: %w", pid, err)
		}
		return nil
	}
	c.logger.Warn("removing stale postmaster.pid", "dir", c.Dir)
	if err := os.Remove(pidfile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	return nil
}

func isPostgres(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	name, _, _ := bytes.Cut(b, []byte{0})
	return strings.Contains(filepath.Base(string(name)), "postgres")
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bindir, name), args...)
	// Own process group: a Ctrl-C to the hub must not reach postgres before
	// the hub has closed its connections.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.Dir = "/"
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("chown %s to postgres: %w", path, err)
	}
	return nil
}

// checkReachable tells the operator up front when, running as root, the
// postgres user cannot walk down to the data dir (a private parent such as
// a 0700 temp dir), instead of leaving initdb's "permission denied".
func (c *Cluster) checkReachable(dir string) error {
	if c.cred == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		ownedByPostgres := st != nil && st.Uid == c.cred.Uid
		if fi.Mode().Perm()&0o001 == 0 && !ownedByPostgres {
			return fmt.Errorf("the postgres user (PostgreSQL runs as it when the hub runs as root) cannot reach %s: %s is mode %04o; choose a data dir under a directory others may enter, or run `chmod o+x %s`",
				dir, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user (install the Debian package postgresql): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// findBinDir locates initdb and pg_ctl: PATH, then pg_config --bindir, then
// the newest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			return filepath.Dir(p), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if hasBins(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if hasBins(d) {
			return d, nil
		}
	}
	return "", errors.New("postgresql server binaries (initdb, pg_ctl) not found in PATH, pg_config --bindir or /usr/lib/postgresql/*/bin: install the Debian package postgresql")
}

func hasBins(d string) bool {
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(d, b)); err != nil {
			return false
		}
	}
	return true
}
