package woosim_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
)

// TestSignatureVector checks the test's own signer against a fixed vector
// computed by hand from RFC 5849, then that woosim accepts it.
func TestSignatureVector(t *testing.T) {
	params := url.Values{"oauth_consumer_key": {"ck_abc"}, "oauth_nonce": {"n1"}, "oauth_signature_method": {"HMAC-SHA1"},
		"oauth_timestamp": {"1700000000"}, "per_page": {"2"}, "sku": {"A B,C/D"}}
	base := woo.SignatureBaseString("GET", "http://example.com/wp-json/wc/v3/products", params)
	want := "GET&http%3A%2F%2Fexample.com%2Fwp-json%2Fwc%2Fv3%2Fproducts&oauth_consumer_key%3Dck_abc%26oauth_nonce%3Dn1%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26per_page%3D2%26sku%3DA%2520B%252CC%252FD"
	if base != want {
		t.Fatalf("base string\n got %s\nwant %s", base, want)
	}
	for _, m := range []string{"HMAC-SHA1", "HMAC-SHA256"} {
		if got, ours := woo.Sign(m, "cs_x", base), oauthSign("GET", "http://example.com/wp-json/wc/v3/products", params, "cs_x", m); got != ours {
			t.Errorf("%s: shared %s, independent %s", m, got, ours)
		}
	}
}

func TestOAuthAccepted(t *testing.T) {
	srv := start(t, woosim.Options{})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 3, Stock: 5}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"HMAC-SHA1", "HMAC-SHA256"} {
		for _, hdr := range []bool{false, true} {
			c := newClient(t, srv)
			c.sigMethod, c.header = m, hdr
			r := c.must(200, "GET", "/products", url.Values{"sku": {"SKU-000001,SKU-000002"}, "search": {"Product 1"}}, nil)
			var list []map[string]any
			r.json(t, &list)
			if len(list) != 1 {
				t.Fatalf("%s header=%v: %d products", m, hdr, len(list))
			}
			c.must(200, "PUT", p("/products/%d", id(t, list[0])), nil, map[string]any{"stock_quantity": 9})
		}
	}
}

func TestAuthFailures(t *testing.T) {
	srv := start(t, woosim.Options{Keys: []woosim.Key{
		{ConsumerKey: "ck_writeonly", ConsumerSecret: "cs_writeonly", Permissions: "write"},
		{ConsumerKey: "ck_readonly", ConsumerSecret: "cs_readonly", Permissions: "read"},
	}})
	if err := srv.Store.Seed(woosim.SeedOptions{Products: 1, Stock: 5}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, r resp, status int, code, msg string) {
		t.Helper()
		var e woo.APIError
		r.json(t, &e)
		if r.status != status || e.Code != code || msg != "" && e.Message != msg || e.Data.Status != status {
			t.Errorf("%s: got %d %s %q, want %d %s %q", name, r.status, e.Code, e.Message, status, code, msg)
		}
	}
	c := newClient(t, srv)
	c.cs = "cs_wrong"
	check("wrong secret", c.do("GET", "/products", nil, nil), 401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.")

	c = newClient(t, srv)
	c.ck = "ck_unknown"
	check("unknown key", c.do("GET", "/products", nil, nil), 401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")

	c = newClient(t, srv)
	c.timestamp = func() int64 { return time.Now().Add(-16 * time.Minute).Unix() }
	check("old timestamp", c.do("GET", "/products", nil, nil), 401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
	c.timestamp = func() int64 { return time.Now().Add(-14 * time.Minute).Unix() }
	c.must(200, "GET", "/products", nil, nil)

	c = newClient(t, srv)
	c.fixedNonce = "same-nonce"
	c.must(200, "GET", "/products", nil, nil)
	check("reused nonce", c.do("GET", "/products", nil, nil), 401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used.")

	c = newClient(t, srv)
	c.ck, c.cs = "ck_writeonly", "cs_writeonly"
	check("write-only key on GET", c.do("GET", "/products", nil, nil), 401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions.")
	c.must(201, "POST", "/products", nil, map[string]any{"name": "by write key"})

	c = newClient(t, srv)
	c.ck, c.cs = "ck_readonly", "cs_readonly"
	check("read-only key on POST", c.do("POST", "/products", nil, map[string]any{"name": "x"}), 401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions.")

	// Partial OAuth parameters.
	r := newClient(t, srv).send(mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products?oauth_consumer_key=ck_x"))
	check("missing params", r, 401, "woocommerce_rest_authentication_missing_parameter", "")

	// Basic auth over plain HTTP is ignored: the request is unauthenticated.
	req := mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products")
	req.SetBasicAuth(srv.Store.ConsumerKey(), srv.Store.ConsumerSecret())
	check("basic over http", newClient(t, srv).send(req), 401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
	req = mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products?consumer_key="+srv.Store.ConsumerKey()+"&consumer_secret="+srv.Store.ConsumerSecret())
	check("query keys over http", newClient(t, srv).send(req), 401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")

	// Nothing changed after all those refusals except the write key's product.
	if q, _ := srv.Store.StockBySKU("SKU-000001"); q != 5 {
		t.Errorf("stock changed to %d", q)
	}
}

func mustReq(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestBasicAuthOverTLS(t *testing.T) {
	srv, err := woosim.StartTLS(woosim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	c := &client{t: t, hc: hc}
	req := mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products")
	req.SetBasicAuth(srv.Store.ConsumerKey(), srv.Store.ConsumerSecret())
	if r := c.send(req); r.status != 200 {
		t.Fatalf("basic over https: %d %s", r.status, r.body)
	}
	req = mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products?consumer_key="+srv.Store.ConsumerKey()+"&consumer_secret="+srv.Store.ConsumerSecret())
	if r := c.send(req); r.status != 200 {
		t.Fatalf("query keys over https: %d %s", r.status, r.body)
	}
	req = mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products")
	req.SetBasicAuth(srv.Store.ConsumerKey(), "cs_wrong")
	r := c.send(req)
	if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong secret over https: %d %v", r.status, r.header)
	}
	if e := r.obj(t); e["message"] != "Consumer secret is invalid." {
		t.Fatalf("message %v", e["message"])
	}

	// OAuth over HTTPS signs an https URL.
	oc := &client{t: t, base: srv.URL, dial: srv.URL, ck: srv.Store.ConsumerKey(), cs: srv.Store.ConsumerSecret(), sigMethod: "HMAC-SHA1", hc: hc}
	oc.must(200, "GET", "/products", nil, nil)
}

func TestTrustProxyHTTPS(t *testing.T) {
	srv := start(t, woosim.Options{TrustProxyHTTPS: true, HomeURL: "https://shop.example.com"})
	req := mustReq(t, "GET", srv.URL+"/wp-json/wc/v3/products")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.SetBasicAuth(srv.Store.ConsumerKey(), srv.Store.ConsumerSecret())
	if r := newClient(t, srv).send(req); r.status != 200 {
		t.Fatalf("basic behind proxy: %d %s", r.status, r.body)
	}
	// OAuth signs the home URL's host, not the dialled one.
	c := newClient(t, srv)
	c.base = "http://shop.example.com"
	c.must(200, "GET", "/products", nil, nil)
	c.base = srv.URL
	if r := c.do("GET", "/products", nil, nil); r.status != 401 {
		t.Fatalf("signed with dialled host: %d", r.status)
	}
}
