package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/pgcluster"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// TestBinary_GracefulShutdown runs the real binary configured from the
// environment only, and stops it with SIGTERM: it must exit 0 after closing
// everything.
func TestBinary_GracefulShutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	addr := systest.FreeAddr(t)
	p := systest.Start(t, "hub", []string{"serve"}, []string{
		"DATABASE_URL=" + pgtest.NewDB(t),
		"STOCKWIRE_LISTEN=" + addr,
		"STOCKWIRE_ADMIN_TOKEN=" + testAdminToken,
		"STOCKWIRE_LOG_FORMAT=text",
		"STOCKWIRE_DATA_DIR=" + t.TempDir(),
	})
	systest.WaitHTTP(t, p, "http://"+addr+"/readyz", 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "PUT", "http://"+addr+"/api/v1/skus/A/locations/main", strings.NewReader(`{"on_hand":3}`))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("set count status=%d", resp.StatusCode)
	}
	p.Stop(30 * time.Second)
	_, werr := p.Exited()
	logText := systest.Output(t, p)
	if werr != nil {
		t.Fatalf("exit: %v\n%s", werr, logText)
	}
	if !strings.Contains(logText, "hub stopped") {
		t.Fatalf("no shutdown line in log:\n%s", logText)
	}
	if strings.Contains(logText, testAdminToken) {
		t.Fatal("the admin token was logged")
	}
}

// TestMain_PrivateCluster runs Main without a database URL: it starts its
// own PostgreSQL in --data-dir, and the data survives a restart.
func TestMain_PrivateCluster(t *testing.T) {
	t.Parallel()
	root := systest.PostgresDir(t)

	start := func(t *testing.T) (*Main, *systest.SyncBuffer) {
		m := NewMain()
		stderr := &systest.SyncBuffer{}
		m.Stderr = stderr
		m.Config.Listen = "127.0.0.1:0"
		m.Config.DataDir = root
		m.Config.LogFormat = "text"
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := m.Run(ctx); err != nil {
			m.Close()
			t.Fatalf("run: %v\n%s", err, stderr)
		}
		return m, stderr
	}
	m, stderr := start(t)
	tok := strings.Fields(stderr.String()[strings.Index(stderr.String(), "swadm_"):])[0]
	base := "http://" + m.Addr()
	lookup := env(map[string]string{"STOCKWIRE_HUB": base, "STOCKWIRE_ADMIN_TOKEN": tok})
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"stock", "set", "--sku", "A", "--on-hand", "9"}, &out, &errOut, lookup); err != nil {
		t.Fatalf("stock set: %v %s", err, errOut.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, stderr = start(t)
	defer m.Close()
	if strings.Contains(stderr.String(), "swadm_") {
		t.Fatal("a second admin token was generated on restart")
	}
	lookup = env(map[string]string{"STOCKWIRE_HUB": "http://" + m.Addr(), "STOCKWIRE_ADMIN_TOKEN": tok})
	out.Reset()
	if err := run(t.Context(), []string{"stock", "show", "A"}, &out, &errOut, lookup); err != nil {
		t.Fatalf("stock show: %v %s", err, errOut.String())
	}
	var st hubapi.SKUStock
	if err := json.Unmarshal([]byte(out.String()), &st); err != nil {
		t.Fatal(err)
	}
	if got, want := st.OnHand, int64(9); got != want {
		t.Fatalf("OnHand after restart=%d, want %d", got, want)
	}
}

// TestBinary_WaitsForTheDatabase: a hub started while its PostgreSQL is
// down (crashed and restarting, or started after the hub) waits for it and
// serves once it is back; a wrong database name still ends the start at
// once. (Found by the chaos soak: a replica restarted during a database
// crash exited.)
func TestBinary_WaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	c, err := pgcluster.Start(t.Context(), filepath.Join(systest.PostgresDir(t), "data"), nil, pgcluster.WithFsync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill() })
	if err := c.CreateDatabase(t.Context(), "hub"); err != nil {
		t.Fatal(err)
	}
	// Built before the crash, so that the hub starts well within it.
	systest.Binary(t, "hub")
	crashed := make(chan error, 1)
	go func() { crashed <- c.Crash(context.WithoutCancel(t.Context()), 10*time.Second) }()
	// The crash has begun once the socket no longer answers.
	systest.WaitFor(t, 30*time.Second, "the database down", func() error {
		db, err := sql.Open("postgres", c.DSN("hub"))
		if err != nil {
			return err
		}
		defer db.Close()
		if db.PingContext(t.Context()) == nil {
			return errors.New("still up")
		}
		return nil
	})
	addr := systest.FreeAddr(t)
	serve := func(dsn string) *launch.Proc {
		return systest.Start(t, "hub", []string{"serve", "--listen", addr, "--database-url", dsn, "--admin-token", testAdminToken,
			"--log-format", "text", "--data-dir", t.TempDir()}, nil)
	}
	p := serve(c.DSN("hub"))
	systest.WaitFor(t, 10*time.Second, "the hub waiting for the database", func() error {
		if exited, err := p.Exited(); exited {
			t.Fatalf("hub exited (%v) while its database was down:\n%s", err, systest.Output(t, p))
		}
		if !strings.Contains(systest.Output(t, p), "database not reachable yet") {
			return errors.New("no wait logged")
		}
		return nil
	})
	systest.WaitHTTP(t, p, "http://"+addr+"/readyz", time.Minute)
	if err := <-crashed; err != nil {
		t.Fatal(err)
	}
	p.Stop(30 * time.Second)

	wrong := serve(c.DSN("no_such_database"))
	select {
	case <-wrong.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("hub still running on a database that does not exist:\n%s", systest.Output(t, wrong))
	}
	if out := systest.Output(t, wrong); !strings.Contains(out, "no_such_database") {
		t.Fatalf("the error does not name the database:\n%s", out)
	}
}
