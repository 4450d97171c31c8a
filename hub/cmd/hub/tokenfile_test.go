package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestMain_AdminTokenFile: `hub serve` keeps the token in effect in
// <data-dir>/admin-token, mode 0600, and the CLI reads it when given no
// token; the environment still wins, and without any token the CLI names
// the three ways to give one.
func TestMain_AdminTokenFile(t *testing.T) {
	t.Parallel()
	dsn, dataDir := pgtest.NewDB(t), t.TempDir()
	path := filepath.Join(dataDir, AdminTokenFile)
	start := func(t *testing.T, token string) (*Main, *systest.SyncBuffer) {
		t.Helper()
		m := NewMain()
		stderr := &systest.SyncBuffer{}
		m.Stderr = stderr
		m.Config.Listen = "127.0.0.1:0"
		m.Config.DatabaseURL = dsn
		m.Config.DataDir = dataDir
		m.Config.AdminToken = token
		m.Config.LogFormat = "text"
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := m.Run(ctx); err != nil {
			m.Close()
			t.Fatalf("run: %v\n%s", err, stderr)
		}
		return m, stderr
	}
	// cli runs a stock command against m with env and returns its error.
	cli := func(t *testing.T, m *Main, vars map[string]string, args ...string) error {
		t.Helper()
		all := map[string]string{"STOCKWIRE_HUB": "http://" + m.Addr()}
		for k, v := range vars {
			all[k] = v
		}
		var out, errOut strings.Builder
		return run(t.Context(), args, &out, &errOut, env(all))
	}
	// fileToken checks the file's mode and returns its token.
	fileToken := func(t *testing.T) string {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Fatalf("mode of %s=%v, want %v", path, got, want)
		}
		tok, err := readAdminToken(path)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("Generated", func(t *testing.T) {
		m, stderr := start(t, "")
		defer m.Close()
		printed := regexp.MustCompile(`swadm_\S+`).FindString(stderr.String())
		if got := fileToken(t); printed == "" || got != printed {
			t.Fatalf("file holds %q, printed %q", got, printed)
		}
		if got := strings.Count(stderr.String(), printed); got != 1 {
			t.Fatalf("token on stderr %d times, want once (printed, never logged)", got)
		}
		if err := cli(t, m, nil, "stock", "set", "A", "--on-hand", "4", "--data-dir", dataDir); err != nil {
			t.Fatalf("stock set with the token file: %v", err)
		}
		if err := cli(t, m, map[string]string{"STOCKWIRE_DATA_DIR": dataDir}, "stores", "list"); err != nil {
			t.Fatalf("stores list with STOCKWIRE_DATA_DIR: %v", err)
		}
		err := cli(t, m, map[string]string{"STOCKWIRE_ADMIN_TOKEN": "wrong-admin-token-0123456789"}, "stock", "show", "A", "--data-dir", dataDir)
		if got := hubapi.ErrorCode(err); got != "unauthorized" {
			t.Fatalf("STOCKWIRE_ADMIN_TOKEN did not win over the file: %v", err)
		}
	})
	t.Run("KeptOnRestart", func(t *testing.T) {
		before := fileToken(t)
		m, _ := start(t, "")
		defer m.Close()
		if got := fileToken(t); got != before {
			t.Fatalf("file changed on a restart that kept the token: %q, was %q", got, before)
		}
	})
	t.Run("GivenReplaces", func(t *testing.T) {
		m, stderr := start(t, testAdminToken)
		defer m.Close()
		if got := fileToken(t); got != testAdminToken {
			t.Fatalf("file holds %q, want the token given", got)
		}
		if strings.Contains(stderr.String(), testAdminToken) {
			t.Fatal("the admin token was logged")
		}
		if err := cli(t, m, nil, "stock", "show", "A", "--data-dir", dataDir); err != nil {
			t.Fatalf("stock show with the token file: %v", err)
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		m, _ := start(t, testAdminToken)
		defer m.Close()
		err := cli(t, m, nil, "stock", "show", "A", "--data-dir", t.TempDir())
		if err == nil {
			t.Fatal("stock show without any token succeeded")
		}
		for _, way := range []string{"--admin-token", "STOCKWIRE_ADMIN_TOKEN", "--data-dir"} {
			if !strings.Contains(err.Error(), way) {
				t.Fatalf("error %q does not name %s", err, way)
			}
		}
	})
}
