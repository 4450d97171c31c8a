package systest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
)

// buildFlags are the flags of the one build every system test runs: the
// race detector is on, so that the tests catch races in the real processes
// too.
var buildFlags = []string{"-race"}

var (
	binariesOnce sync.Once
	binariesDir  string
	binariesErr  error
)

// Binaries returns the directory holding every command of the module (hub,
// agent, woosim, stockwire-demo, the figure commands), built with
// buildFlags. The build is shared: every test process of a `go test ./...`
// run, and every later run until a source that goes into a binary changes,
// uses the one set in <module root>/.cache/systest-bin/<hash of those
// sources>. A file lock makes concurrent test processes build once; the
// others wait and reuse it.
func Binaries(tb testing.TB) string {
	tb.Helper()
	binariesOnce.Do(func() { binariesDir, binariesErr = buildBinaries() })
	if binariesErr != nil {
		tb.Fatalf("systest: build binaries: %v", binariesErr)
	}
	return binariesDir
}

// Binary returns the path of the module's command name (from Binaries).
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Binaries(tb), name)
}

func buildBinaries() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := launch.ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	key, err := sourceHash(ctx, root)
	if err != nil {
		return "", err
	}
	cache := filepath.Join(root, ".cache", "systest-bin")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockDir(cache)
	if err != nil {
		return "", err
	}
	defer unlock()

	dir := filepath.Join(cache, key)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	// Built aside and renamed, so that a directory named by its hash is
	// always complete, even after a build killed halfway.
	building, err := os.MkdirTemp(cache, "building-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(building, 0o755); err != nil {
		return "", err
	}
	if err := launch.Build(ctx, root, building, buildFlags...); err != nil {
		os.RemoveAll(building)
		return "", err
	}
	if err := os.Rename(building, dir); err != nil {
		os.RemoveAll(building)
		return "", err
	}
	// The cache holds one set: older builds and leftovers of killed ones go.
	entries, err := os.ReadDir(cache)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != key {
			if err := os.RemoveAll(filepath.Join(cache, e.Name())); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// lockDir takes an exclusive lock on dir's lock file, waiting for the
// process holding it, and returns the function releasing it.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// sourceHash hashes what goes into the module's binaries: the build flags,
// the toolchain and target, go.mod and go.sum (which pin the dependencies),
// and the non-test Go, assembly and embedded files of every package of the
// module a command imports (as go list sees them, so tests, testdata and
// test-only packages such as this one stay out).
func sourceHash(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, buildFlags)
	toolchain, err := goCommand(ctx, root, "env", "GOVERSION", "GOOS", "GOARCH", "GOAMD64", "CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT")
	if err != nil {
		return "", err
	}
	h.Write(toolchain)
	mains, err := goCommand(ctx, root, "list", "-e", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./...")
	if err != nil {
		return "", err
	}
	list, err := goCommand(ctx, root, append([]string{"list", "-e", "-deps",
		"-json=Dir,Standard,GoFiles,CgoFiles,SFiles,CFiles,HFiles,SysoFiles,EmbedFiles"}, strings.Fields(string(mains))...)...)
	if err != nil {
		return "", err
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	dec := json.NewDecoder(bytes.NewReader(list))
	for {
		var pkg struct {
			Dir                                                              string
			Standard                                                         bool
			GoFiles, CgoFiles, SFiles, CFiles, HFiles, SysoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list: %w", err)
		}
		if pkg.Standard || !strings.HasPrefix(pkg.Dir, root+string(filepath.Separator)) {
			continue // the toolchain and go.sum pin those
		}
		for _, names := range [][]string{pkg.GoFiles, pkg.CgoFiles, pkg.SFiles, pkg.CFiles, pkg.HFiles, pkg.SysoFiles, pkg.EmbedFiles} {
			for _, name := range names {
				files = append(files, filepath.Join(pkg.Dir, name))
			}
		}
	}
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s %x\n", rel, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go %s: %w: %s", args[0], err, ee.Stderr)
		}
		return nil, fmt.Errorf("go %s: %w", args[0], err)
	}
	return out, nil
}
