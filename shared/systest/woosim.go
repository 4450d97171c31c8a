package systest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/launch"
	"github.com/stockwire/stockwire/shared/woo"
)

// WoosimOptions shape a woosim store process.
type WoosimOptions struct {
	ConsumerKey, ConsumerSecret string
	// Products simple products are seeded, Stock units each.
	Products, Stock int
	// WebhookDelay is the delay before a webhook delivery (zero: none).
	WebhookDelay time.Duration
}

// Woosim is one simulated WooCommerce store, run as the woosim command.
type Woosim struct {
	URL                         string
	ConsumerKey, ConsumerSecret string
	Proc                        *launch.Proc

	tb testing.TB
}

// StartWoosim starts a woosim store on a loopback address and waits until
// it serves. It is stopped when tb ends.
func StartWoosim(tb testing.TB, o WoosimOptions) *Woosim {
	tb.Helper()
	manifest := filepath.Join(tb.TempDir(), "manifest.json")
	p := Start(tb, "woosim", []string{"--manifest", manifest, "--consumer-key", o.ConsumerKey, "--consumer-secret", o.ConsumerSecret,
		"--seed-products", strconv.Itoa(o.Products), "--seed-stock", strconv.Itoa(o.Stock),
		"--webhook-delay", o.WebhookDelay.String(), "--log-level", "warn"}, nil)
	w := &Woosim{Proc: p, tb: tb}
	WaitFor(tb, 30*time.Second, "woosim's manifest", func() error {
		if exited, err := p.Exited(); exited {
			tb.Fatalf("woosim exited: %v; output:\n%s", err, Output(tb, p))
		}
		b, err := os.ReadFile(manifest)
		if err != nil {
			return err
		}
		var m struct {
			Stores []struct {
				URL            string `json:"url"`
				ConsumerKey    string `json:"consumer_key"`
				ConsumerSecret string `json:"consumer_secret"`
			} `json:"stores"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err // written halfway
		}
		if len(m.Stores) != 1 {
			return fmt.Errorf("%d stores in the manifest, want 1", len(m.Stores))
		}
		w.URL, w.ConsumerKey, w.ConsumerSecret = m.Stores[0].URL, m.Stores[0].ConsumerKey, m.Stores[0].ConsumerSecret
		return nil
	})
	return w
}

// SKUs lists the SKUs of the store's products (up to 100), as the REST
// API does with the store's key.
func (w *Woosim) SKUs() []string {
	w.tb.Helper()
	var products []struct {
		SKU string `json:"sku"`
	}
	if err := w.get("/wp-json/wc/v3/products", url.Values{"per_page": {"100"}, "orderby": {"id"}, "order": {"asc"}}, &products); err != nil {
		w.tb.Fatal(err)
	}
	skus := make([]string, len(products))
	for i, p := range products {
		skus[i] = p.SKU
	}
	return skus
}

// Stock returns the stock quantity the store shows for sku, as its REST
// API does.
func (w *Woosim) Stock(sku string) (int64, error) {
	var products []struct {
		StockQuantity *int64 `json:"stock_quantity"`
	}
	if err := w.get("/wp-json/wc/v3/products", url.Values{"sku": {sku}}, &products); err != nil {
		return 0, err
	}
	if len(products) != 1 || products[0].StockQuantity == nil {
		return 0, fmt.Errorf("%d products with SKU %s, want one managing stock", len(products), sku)
	}
	return *products[0].StockQuantity, nil
}

// Checkout places an order of quantity units of sku as a shopper would.
func (w *Woosim) Checkout(sku string, quantity int) error {
	return w.sim("/sim/checkout", map[string]any{"line_items": []map[string]any{{"sku": sku, "quantity": quantity}}})
}

// AdminEdit sets sku's stock as the shop owner would in wp-admin.
func (w *Woosim) AdminEdit(sku string, quantity int64) error {
	return w.sim("/sim/admin-edit", map[string]any{"sku": sku, "stock_quantity": quantity})
}

// sim posts body to one of woosim's own control endpoints.
func (w *Woosim) sim(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(w.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}

// get calls the store's REST API signed with OAuth 1.0a (the store serves
// plain http) and decodes the answer into out.
func (w *Woosim) get(path string, query url.Values, out any) error {
	endpoint := w.URL + path
	params := url.Values{}
	for k, v := range query {
		params[k] = v
	}
	params.Set("oauth_consumer_key", w.ConsumerKey)
	params.Set("oauth_nonce", rand.Text())
	params.Set("oauth_signature_method", "HMAC-SHA256")
	params.Set("oauth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	params.Set("oauth_signature", woo.Sign("HMAC-SHA256", w.ConsumerSecret, woo.SignatureBaseString(http.MethodGet, endpoint, params)))
	req, err := http.NewRequestWithContext(w.tb.Context(), http.MethodGet, endpoint+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
