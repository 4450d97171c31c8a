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
	"time"
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

func TestParseFlags_Environment(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	t.Run("OK", func(t *testing.T) {
		m := NewMain()
		m.LookupEnv = env(map[string]string{
			"WOOSIM_LISTEN":          "127.0.0.1:9000",
			"WOOSIM_STORES":          "3",
			"WOOSIM_CONSUMER_SECRET": "cs_env",
			"WOOSIM_SEED_STOCK":      "7",
			"WOOSIM_WEBHOOK_DELAY":   "250ms",
		})
		if err := m.ParseFlags([]string{"--listen", "127.0.0.1:9100"}); err != nil {
			t.Fatal(err)
		}
		c := m.Config
		if got, want := c.Listen, "127.0.0.1:9100"; got != want {
			t.Errorf("Listen=%q, want the command line's %q", got, want)
		}
		if got, want := c.Stores, 3; got != want {
			t.Errorf("Stores=%d, want %d", got, want)
		}
		if got, want := c.ConsumerSecret, "cs_env"; got != want {
			t.Errorf("ConsumerSecret=%q, want %q", got, want)
		}
		if got, want := c.SeedStock, 7; got != want {
			t.Errorf("SeedStock=%d, want %d", got, want)
		}
		if got, want := c.WebhookDelay, 250*time.Millisecond; got != want {
			t.Errorf("WebhookDelay=%v, want %v", got, want)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		m := NewMain()
		m.LookupEnv = env(nil)
		if err := m.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if got, want := m.Config, DefaultConfig(); got != want {
			t.Errorf("Config=%+v, want %+v", got, want)
		}
	})
	t.Run("ErrBadValue", func(t *testing.T) {
		m := NewMain()
		m.LookupEnv = env(map[string]string{"WOOSIM_STORES": "many"})
		err := m.ParseFlags(nil)
		if err == nil || !strings.Contains(err.Error(), "WOOSIM_STORES") {
			t.Fatalf("err=%v, want one naming WOOSIM_STORES", err)
		}
	})
}
