package wooclient_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/woo"
)

// decodeOwn decodes body with encoding/json, as the handler did before the
// scan, keeping only the agent's own meta: what ScanProduct must return.
func decodeOwn(t *testing.T, body string) woo.Product {
	t.Helper()
	var p woo.Product
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decode %q: %v", body[:min(60, len(body))], err)
	}
	var own []woo.MetaData
	for _, m := range p.MetaData {
		if strings.HasPrefix(m.Key, "stockwire_") {
			own = append(own, m)
		}
	}
	p.MetaData = own
	// Fields the scan leaves out.
	p.Name, p.StockStatus, p.Backorders, p.DateModified, p.DateModifiedGMT = "", "", "", "", ""
	return p
}

// productBodies are the real product.updated webhook bodies of the
// samples (a product as GET /products/{id} answers it), and the same with
// the agent's marker and other meta in them.
func productBodies(t *testing.T) []string {
	var file struct {
		Deliveries []struct {
			Headers [][2]string `json:"headers"`
			Body    string      `json:"body"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(systest.Fixture(t, "webhook-deliveries.json"), &file); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range file.Deliveries {
		if !slices.ContainsFunc(d.Headers, func(kv [2]string) bool {
			return strings.EqualFold(kv[0], woo.HeaderWebhookTopic) && kv[1] == woo.TopicProductUpdated
		}) {
			continue
		}
		out = append(out, d.Body, strings.Replace(d.Body, `"meta_data":[]`,
			`"meta_data":[{"id":7,"key":"_other","value":{"a":["}",1]}},{"id":99,"key":"stockwire_seq","value":"ep1:42"},`+
				`{"id":100,"key":"stockwire_reclaim","value":"x\"y"}]`, 1))
	}
	if len(out) != 4 {
		t.Fatalf("%d product bodies in the samples, want 4", len(out))
	}
	return out
}

func TestScanProduct(t *testing.T) {
	t.Parallel()
	t.Run("RealDeliveries", func(t *testing.T) {
		for _, body := range productBodies(t) {
			got, err := wooclient.ScanProduct([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if want := decodeOwn(t, body); !reflect.DeepEqual(got, want) {
				t.Fatalf("scan=%+v\nwant  %+v", got, want)
			}
		}
		p, _ := wooclient.ScanProduct([]byte(productBodies(t)[1]))
		if got, want := len(p.MetaData), 2; got != want || p.MetaData[0].Key != "stockwire_seq" || string(p.MetaData[0].Value) != `"ep1:42"` {
			t.Fatalf("meta=%+v, want stockwire_seq and stockwire_reclaim only", p.MetaData)
		}
	})
	t.Run("Shapes", func(t *testing.T) {
		for _, body := range []string{
			`{"id":5,"sku":"A\/B \u00e9","stock_quantity":null,"manage_stock":"parent","parent_id":4,"type":"variation"}`,
			" {\n \"description\": \"a \\\"quoted\\\" {brace} [x]\",\n \"id\" : 6 , \"variations\":[1, 2,3],\"stock_quantity\": -3}\n",
			`{"id":7,"attributes":[{"options":["]","{"],"n":[[[]]]}],"sku":"","meta_data":[{"key":"stockwire_seq","value":null}],"status":"draft"}`,
			`{"id":8}`,
			`{"id":9,"meta_data":[],"sku":null,"stock_quantity":0,"x":true,"y":false,"z":1.5e3}`,
			`{"id":10,"meta_data":null,"variations":null}`,
		} {
			got, err := wooclient.ScanProduct([]byte(body))
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if want := decodeOwn(t, body); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\nscan=%+v\nwant %+v", body, got, want)
			}
		}
	})
	t.Run("ErrTruncated", func(t *testing.T) {
		body := productBodies(t)[1]
		for i := range len(body) {
			if _, err := wooclient.ScanProduct([]byte(body[:i])); err == nil {
				t.Fatalf("body cut at %d of %d: no error", i, len(body))
			}
		}
	})
	t.Run("ErrNotAProduct", func(t *testing.T) {
		for _, body := range []string{``, `[]`, `"x"`, `{"id":"7"}`, `{"id":1.5}`, `{"stock_quantity":"3"}`, `{"id":1}x`, `{"id" 1}`, `{"id":1,}`,
			`{"id":1,"meta_data":[{"key":"x"} {"key":"y"}]}`, `{"id":1,"meta_data":[{"key":"stockwire_seq","value":"a"},]}`,
			`{"id":1,"variations":[1,"2"]}`} {
			if _, err := wooclient.ScanProduct([]byte(body)); err == nil {
				t.Fatalf("%q: no error", body)
			}
		}
	})
}

// TestDecodeBatch: a batch answer reads as encoding/json read it, its
// products as ScanProduct reads them.
func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	body := systest.LoadSample(t, "products-batch-per-item-error.json").Body
	marked := []byte(strings.Replace(string(body), `"meta_data":[]`, `"meta_data":[{"id":9,"key":"stockwire_seq","value":"e:3"},{"id":8,"key":"_x","value":"error"}]`, 1))
	for _, body := range [][]byte{body, marked} {
		ps, errs, err := wooclient.DecodeBatch(body)
		if err != nil {
			t.Fatal(err)
		}
		var want struct {
			Update []json.RawMessage `json:"update"`
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if got, n := len(ps), len(want.Update); got != n || n != 2 {
			t.Fatalf("%d items, want %d (2)", got, n)
		}
		for i, raw := range want.Update {
			var refusal struct {
				Error *woo.APIError `json:"error"`
			}
			if err := json.Unmarshal(raw, &refusal); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(errs[i], refusal.Error) {
				t.Fatalf("item %d: error %+v, want %+v", i, errs[i], refusal.Error)
			}
			if refusal.Error != nil {
				continue
			}
			if wp := decodeOwn(t, string(raw)); !reflect.DeepEqual(ps[i], wp) {
				t.Fatalf("item %d:\nscan=%+v\nwant %+v", i, ps[i], wp)
			}
		}
		if errs[1] == nil || errs[1].Code != "woocommerce_rest_product_invalid_id" || ps[1].ID == 0 {
			t.Fatalf("item 2 = %+v, %+v; want the refusal of its id", ps[1], errs[1])
		}
	}
	for _, bad := range []string{`{"update":[{"id":1}`, `{"update":[{"id":1,"error":}]}`, `[]`} {
		if _, _, err := wooclient.DecodeBatch([]byte(bad)); err == nil {
			t.Fatalf("%s: no error", bad)
		}
	}
}

// TestScanProduct_Allocs: the scan allocates only what it keeps, where
// decoding the product allocated for every meta entry and field it had.
func TestScanProduct_Allocs(t *testing.T) {
	body := []byte(productBodies(t)[1])
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := wooclient.ScanProduct(body); err != nil {
			t.Fatal(err)
		}
	})
	decoded := testing.AllocsPerRun(100, func() {
		var p woo.Product
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per product body: scan %v, encoding/json %v", allocs, decoded)
	// sku, type, status, manage_stock, stock_quantity, two meta and their
	// slice.
	if allocs > 10 {
		t.Fatalf("scan allocates %v times, want at most 10", allocs)
	}
}

// BenchmarkDecodeBatch compares reading a batch answer of 10 real
// products (the samples' product 11 with a marker) with the scan and
// with encoding/json, as the client read it before.
func BenchmarkDecodeBatch(b *testing.B) {
	var file struct {
		Body struct {
			Update []json.RawMessage `json:"update"`
		} `json:"body"`
	}
	if err := json.Unmarshal(systest.Fixture(b, "products-batch-per-item-error.json"), &file); err != nil {
		b.Fatal(err)
	}
	item := strings.Replace(string(file.Body.Update[0]), `"meta_data":[]`, `"meta_data":[{"id":9,"key":"stockwire_seq","value":"e:3"}]`, 1)
	body := []byte(`{"update":[` + strings.Repeat(item+",", 9) + item + `]}`)
	b.Run("Scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := wooclient.DecodeBatch(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodingJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out struct {
				Update []struct {
					woo.Product
					Error *woo.APIError `json:"error"`
				} `json:"update"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
