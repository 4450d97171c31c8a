package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunManifestAndState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	run := func() (*Main, []ManifestStore) {
		t.Helper()
		m := NewMain()
		var out bytes.Buffer
		m.Stdout = &out
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if err := m.ParseFlags([]string{"--stores", "2", "--seed-products", "5", "--seed-stock", "4", "--state", state}); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		var man struct {
			Stores []ManifestStore `json:"stores"`
		}
		if err := json.Unmarshal(out.Bytes(), &man); err != nil {
			t.Fatalf("manifest %s: %v", out.Bytes(), err)
		}
		return m, man.Stores
	}
	m, stores := run()
	if len(stores) != 2 || !strings.HasPrefix(stores[0].URL, "http://127.0.0.1:") || !strings.HasPrefix(stores[0].ConsumerKey, "ck_") {
		t.Fatalf("manifest %+v", stores)
	}
	// The store answers (unauthenticated → WooCommerce's 401).
	res, err := http.Get(stores[1].URL + "/wp-json/wc/v3/products")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if err := m.Servers[0].Store.AdminEdit("SKU-000001", 77); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart: state and keys come back.
	m2, stores2 := run()
	defer m2.Close()
	if stores2[0].ConsumerKey != stores[0].ConsumerKey || stores2[1].ConsumerSecret != stores[1].ConsumerSecret {
		t.Fatal("keys changed across restart")
	}
	if q, _ := m2.Servers[0].Store.StockBySKU("SKU-000001"); q != 77 {
		t.Fatalf("stock after restart %d", q)
	}
	if n := len(m2.Servers[1].Store.SKUs()); n != 5 {
		t.Fatalf("store 2 has %d SKUs after restart", n)
	}
}

func TestValidate(t *testing.T) {
	for _, args := range [][]string{{"--stores", "0"}, {"--listen", "nonsense"}, {"--stores", "2", "--consumer-key", "ck_x"}, {"--seed-products", "-1"}} {
		m := NewMain()
		if err := m.ParseFlags(args); err != nil {
			continue
		}
		if err := m.Config.Validate(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
