package webhook_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stockwire/stockwire/agent/webhook"
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

// productBodies are the real product.updated bodies of the samples, and
// the same with the agent's marker and other meta in them.
func productBodies(t *testing.T) []string {
	var out []string
	for _, d := range loadDeliveries(t) {
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
			got, err := webhook.ScanProduct([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if want := decodeOwn(t, body); !reflect.DeepEqual(got, want) {
				t.Fatalf("scan=%+v\nwant  %+v", got, want)
			}
		}
		p, _ := webhook.ScanProduct([]byte(productBodies(t)[1]))
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
		} {
			got, err := webhook.ScanProduct([]byte(body))
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
			if _, err := webhook.ScanProduct([]byte(body[:i])); err == nil {
				t.Fatalf("body cut at %d of %d: no error", i, len(body))
			}
		}
	})
	t.Run("ErrNotAProduct", func(t *testing.T) {
		for _, body := range []string{``, `[]`, `"x"`, `{"id":"7"}`, `{"id":1.5}`, `{"stock_quantity":"3"}`, `{"id":1}x`, `{"id" 1}`, `{"id":1,}`,
			`{"id":1,"meta_data":[{"key":"x"} {"key":"y"}]}`, `{"id":1,"meta_data":[{"key":"stockwire_seq","value":"a"},]}`,
			`{"id":1,"variations":[1,"2"]}`} {
			if _, err := webhook.ScanProduct([]byte(body)); err == nil {
				t.Fatalf("%q: no error", body)
			}
		}
	})
}

// TestScanProduct_Allocs: the scan allocates only what it keeps, where
// decoding the product allocated for every meta entry and field it had.
func TestScanProduct_Allocs(t *testing.T) {
	body := []byte(productBodies(t)[1])
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := webhook.ScanProduct(body); err != nil {
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
