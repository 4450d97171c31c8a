package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// MustSelfSignedCert writes a certificate for 127.0.0.1 and its key into
// dir and returns their paths and the certificate.
func MustSelfSignedCert(tb testing.TB, dir string) (certPath, keyPath string, cert *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stockwire test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath, cert
}

func TestMain_TLS(t *testing.T) {
	t.Parallel()
	certPath, keyPath, cert := MustSelfSignedCert(t, t.TempDir())
	m := NewMain()
	m.Stderr = &systest.SyncBuffer{}
	m.Config.Listen = "127.0.0.1:0"
	m.Config.DatabaseURL = pgtest.NewDB(t)
	m.Config.DataDir = t.TempDir()
	m.Config.AdminToken = testAdminToken
	m.Config.TLSCert, m.Config.TLSKey = certPath, keyPath
	if err := m.Run(t.Context()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + m.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status=%d tls=%v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP is refused.
	if resp, err := http.Get("http://" + m.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS listener")
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDB(t)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"migrate"}, &out, &errOut, env(map[string]string{"DATABASE_URL": dsn})); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'stores'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("stores table count=%d after migrate", n)
	}
}

// TestServe_BadKeyPair: a missing certificate fails `hub serve` at once,
// naming it, before the database is touched and before anything is said
// to listen.
func TestServe_BadKeyPair(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stderr := &systest.SyncBuffer{}
	err := run(ctx, []string{"serve", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"}, io.Discard, stderr, env(map[string]string{
		// Nothing listens there: reaching the database would fail with
		// another error.
		"DATABASE_URL":          "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"STOCKWIRE_LISTEN":      "127.0.0.1:0",
		"STOCKWIRE_ADMIN_TOKEN": testAdminToken,
	}))
	if err == nil {
		t.Fatal("serve with a missing certificate returned nil")
	}
	if ctx.Err() != nil {
		t.Fatalf("serve returned only when its context ended: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Fatalf("error %q does not name the missing certificate", err)
	}
	if strings.Contains(stderr.String(), "hub listening") {
		t.Fatalf("the hub said it listens:\n%s", stderr)
	}
}

// TestServe_BusyPort: a busy address fails `hub serve` before it starts
// its private cluster.
func TestServe_BusyPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dataDir := systest.PostgresDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = run(ctx, []string{"serve", "--listen", ln.Addr().String(), "--data-dir", dataDir}, io.Discard, io.Discard, env(nil))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "--listen "+ln.Addr().String()+" is in use") {
		t.Fatalf("serve on a busy port: %v, want address already in use, naming --listen and the address", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pg")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the private cluster was created before listening (stat: %v)", err)
	}
}

// TestMain_ServeErrorEndsServe: when the HTTP server stops on its own,
// Served is closed and ServeErr says why.
func TestMain_ServeErrorEndsServe(t *testing.T) {
	t.Parallel()
	m, _ := MustRunMain(t, testAdminToken)
	m.ln.Close()
	select {
	case <-m.Served():
	case <-time.After(30 * time.Second):
		t.Fatal("Served not closed after the listener failed")
	}
	if !errors.Is(m.ServeErr(), net.ErrClosed) {
		t.Fatalf("ServeErr=%v, want the listener's error", m.ServeErr())
	}
}

// TestMain_MetricsListen: with --metrics-listen, /metrics is served there
// only; without it, on the main listener.
func TestMain_MetricsListen(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	t.Run("OwnListener", func(t *testing.T) {
		t.Parallel()
		m := NewMain()
		m.Stderr = &systest.SyncBuffer{}
		m.Config.Listen = "127.0.0.1:0"
		m.Config.MetricsListen = "127.0.0.1:0"
		m.Config.DatabaseURL = pgtest.NewDB(t)
		m.Config.DataDir = t.TempDir()
		m.Config.AdminToken = testAdminToken
		if err := m.Run(t.Context()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		defer m.Close()
		if code, body := get(t, "http://"+m.MetricsAddr()+"/metrics"); code != http.StatusOK || !strings.Contains(body, "stockwire_hub_agents_connected") {
			t.Fatalf("metrics listener: %d %.200s", code, body)
		}
		if code, _ := get(t, "http://"+m.Addr()+"/metrics"); code != http.StatusNotFound {
			t.Fatalf("main listener /metrics: %d, want 404", code)
		}
		if code, _ := get(t, "http://"+m.MetricsAddr()+"/healthz"); code != http.StatusNotFound {
			t.Fatalf("metrics listener /healthz: %d, want 404: it serves /metrics only", code)
		}
	})
	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		m, _ := MustRunMain(t, testAdminToken)
		if m.MetricsAddr() != "" {
			t.Fatalf("MetricsAddr=%q without --metrics-listen", m.MetricsAddr())
		}
		if code, body := get(t, "http://"+m.Addr()+"/metrics"); code != http.StatusOK || !strings.Contains(body, "stockwire_hub_agents_connected") {
			t.Fatalf("main listener /metrics: %d %.200s", code, body)
		}
	})
	t.Run("BusyPort", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		dataDir := systest.PostgresDir(t)
		err = run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", ln.Addr().String(), "--data-dir", dataDir}, io.Discard, io.Discard, env(nil))
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("serve with a busy metrics port: %v, want address already in use", err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "pg")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the private cluster was created before listening (stat: %v)", err)
		}
	})
}
