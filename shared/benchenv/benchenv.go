// Package benchenv is the ground every figure command stands on: a work
// directory that PostgreSQL can reach (it runs as postgres when the command
// runs as root), the module's binaries built into it, and a private
// PostgreSQL cluster that stops even if the command is killed.
package benchenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/pgcluster"
)

// Options shape an Env.
type Options struct {
	// Name prefixes a new temporary work directory ("<name>-…").
	Name string
	// Dir is the work directory to use; empty makes a temporary one, which
	// Close removes.
	Dir string
	// BinDir holds binaries already built; empty builds the module into
	// Dir/bin.
	BinDir string
	// ModuleDir is the module to build; empty is the one the go command
	// sees from the working directory.
	ModuleDir string
	// Fsync turns PostgreSQL's fsync on.
	Fsync bool
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// Env is an open work directory with its binaries and cluster.
type Env struct {
	Dir     string
	BinDir  string
	Cluster *pgcluster.Cluster

	temp bool
	logf func(format string, args ...any)
}

// Open makes the work directory, builds the binaries and starts the
// cluster. On an error it undoes what it did.
func Open(ctx context.Context, o Options) (e *Env, err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	e = &Env{Dir: o.Dir, BinDir: o.BinDir, logf: o.Logf}
	defer func() {
		if err != nil {
			e.Close(false)
			e = nil
		}
	}()
	if e.Dir == "" {
		if e.Dir, err = os.MkdirTemp("", o.Name+"-"); err != nil {
			return e, err
		}
		e.temp = true
	}
	// Run as root, PostgreSQL runs as postgres and must get through.
	if err := os.Chmod(e.Dir, 0o755); err != nil {
		return e, err
	}
	if e.BinDir == "" {
		root := o.ModuleDir
		if root == "" {
			if root, err = launch.ModuleRoot(ctx); err != nil {
				return e, err
			}
		}
		e.BinDir = e.Path("bin")
		o.Logf("building hub and agent (work dir %s)", e.Dir)
		if err := launch.Build(ctx, root, e.BinDir); err != nil {
			return e, err
		}
	}
	o.Logf("starting PostgreSQL (fsync %v)", o.Fsync)
	if e.Cluster, err = pgcluster.Start(ctx, e.Path("pg"), nil, pgcluster.WithFsync(o.Fsync)); err != nil {
		return e, err
	}
	// Killed without a chance to clean up, the cluster still goes.
	if err := e.Cluster.StopWhenExits(os.Getpid()); err != nil {
		return e, fmt.Errorf("watch the cluster: %w", err)
	}
	return e, nil
}

// Path joins elements under the work directory.
func (e *Env) Path(elem ...string) string {
	return filepath.Join(append([]string{e.Dir}, elem...)...)
}

// Bin is the path of the command name.
func (e *Env) Bin(name string) string { return filepath.Join(e.BinDir, name) }

// Close stops the cluster and removes a temporary work directory, unless
// keep (it then says where it is).
func (e *Env) Close(keep bool) {
	if e.Cluster != nil {
		if err := e.Cluster.Stop(); err != nil {
			e.logf("%v", err)
		}
	}
	switch {
	case e.temp && keep:
		e.logf("work directory kept: %s (logs under logs/)", e.Dir)
	case e.temp:
		os.RemoveAll(e.Dir)
	}
}
