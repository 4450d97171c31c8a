package woosim_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
)

// jsPackage is the official WooCommerce REST client, pinned to the version
// measured against a real store.
const jsPackage = "@woocommerce/woocommerce-rest-api@1.0.2"

const jsScript = `
const WooCommerceRestApi = require("@woocommerce/woocommerce-rest-api").default;
const api = new WooCommerceRestApi({url: process.env.WOO_URL, consumerKey: process.env.WOO_CK,
  consumerSecret: process.env.WOO_CS, version: "wc/v3"});
(async () => {
  const out = {};
  const list = await api.get("products", {per_page: 2, page: 2});
  out.listCount = list.data.length;
  out.total = list.headers["x-wp-total"];
  const created = await api.post("products", {name: "From JS", sku: "JS-1", manage_stock: true, stock_quantity: 3});
  out.createdStatus = created.status;
  out.createdId = created.data.id;
  const batch = await api.post("products/batch", {update: [
    {id: created.data.id, stock_quantity: 11},
    {id: list.data[0].id, inventory_delta: -1, meta_data: [{key: "stockwire_seq", value: "42"}]}]});
  out.batch = batch.data.update.map(p => [p.sku, p.stock_quantity]);
  const order = await api.post("orders", {set_paid: true, line_items: [{product_id: created.data.id, quantity: 1}]});
  const put = await api.put("orders/" + order.data.id, {status: "completed",
    meta_data: [{key: "_wc_shipment_tracking_items", value: [{tracking_number: "1Z999", tracking_id: "stockwire-1"}]}]});
  out.orderStatus = put.data.status;
  out.orderMeta = put.data.meta_data.map(m => m.key);
  const note = await api.post("orders/" + order.data.id + "/notes", {note: "Shipped.", customer_note: true});
  out.noteStatus = note.status;
  const notes = await api.get("orders/" + order.data.id + "/notes");
  out.notes = notes.data.filter(n => n.customer_note).map(n => n.note);
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e.response ? JSON.stringify(e.response.data) : e.toString()); process.exit(1); });
`

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// TestOfficialJSClient drives woosim with @woocommerce/woocommerce-rest-api
// over OAuth 1.0a on plain HTTP: list, create, batch update, an order's
// status and meta, its notes.
func TestOfficialJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the official WooCommerce JS client test needs node and npm (apt-get install nodejs npm)")
	}
	cache := filepath.Join(repoRoot(t), ".cache", "npm")
	modules := filepath.Join(cache, "node_modules")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(modules, "@woocommerce", "woocommerce-rest-api", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm is not installed: it is needed once to install " + jsPackage + " into .cache/npm")
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", cache, jsPackage).CombinedOutput()
		if err != nil {
			t.Fatalf("npm install %s: %v\n%s", jsPackage, err, out)
		}
	}
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 5, Stock: 10}); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "client.js")
	if err := os.WriteFile(script, []byte(jsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "WOO_URL="+srv.URL,
		"WOO_CK="+srv.Store.ConsumerKey(), "WOO_CS="+srv.Store.ConsumerSecret())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node client: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		ListCount     int         `json:"listCount"`
		Total         string      `json:"total"`
		CreatedStatus int         `json:"createdStatus"`
		Batch         [][2]any    `json:"batch"`
		CreatedID     json.Number `json:"createdId"`
		OrderStatus   string      `json:"orderStatus"`
		OrderMeta     []string    `json:"orderMeta"`
		NoteStatus    int         `json:"noteStatus"`
		Notes         []string    `json:"notes"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if got.ListCount != 2 || got.Total != "5" || got.CreatedStatus != 201 || len(got.Batch) != 2 {
		t.Fatalf("js client saw %+v", got)
	}
	if got.OrderStatus != "completed" || len(got.OrderMeta) != 1 || got.OrderMeta[0] != "_wc_shipment_tracking_items" ||
		got.NoteStatus != 201 || len(got.Notes) != 1 || got.Notes[0] != "Shipped." {
		t.Fatalf("js client saw order %+v", got)
	}
	if q, _ := srv.Store.StockBySKU("JS-1"); q != 10 {
		t.Fatalf("JS-1 stock %d", q)
	}
	// Page 2 of the default order (date desc) starts at the third newest.
	if q, _ := srv.Store.StockBySKU("SKU-000003"); q != 9 {
		t.Fatalf("SKU-000003 stock %d", q)
	}
	if v, _ := srv.Store.MetaBySKU("SKU-000003", "stockwire_seq"); string(v) != `"42"` {
		t.Fatalf("meta %s", v)
	}
}
