package woosim_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

// pct is RFC 3986 percent-encoding, written here independently of the
// simulator's code.
func pct(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// oauthSign is RFC 5849 §3.4 one-legged signing (empty token secret).
func oauthSign(method, rawURL string, params url.Values, secret, sigMethod string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, kv{pct(k), pct(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var norm []string
	for _, p := range pairs {
		norm = append(norm, p.k+"="+p.v)
	}
	base := method + "&" + pct(rawURL) + "&" + pct(strings.Join(norm, "&"))
	var h func() hash.Hash = sha1.New
	if sigMethod == "HMAC-SHA256" {
		h = sha256.New
	}
	m := hmac.New(h, []byte(pct(secret)+"&"))
	m.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type client struct {
	t          testing.TB
	base       string // signing base (home URL)
	dial       string // where requests go
	ck, cs     string
	sigMethod  string
	header     bool // send OAuth params in the Authorization header
	hc         *http.Client
	timestamp  func() int64
	fixedNonce string
}

func newClient(t testing.TB, srv *woosim.Server) *client {
	return &client{t: t, base: srv.URL, dial: srv.URL, ck: srv.Store.ConsumerKey(), cs: srv.Store.ConsumerSecret(),
		sigMethod: "HMAC-SHA256", hc: &http.Client{Timeout: 10 * time.Second}}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) obj(t testing.TB) map[string]any {
	var m map[string]any
	r.json(t, &m)
	return m
}

func (c *client) do(method, path string, query url.Values, body any) resp {
	c.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	ts := time.Now().Unix()
	if c.timestamp != nil {
		ts = c.timestamp()
	}
	n := nonce()
	if c.fixedNonce != "" {
		n = c.fixedNonce
	}
	oauth := url.Values{"oauth_consumer_key": {c.ck}, "oauth_timestamp": {strconv.FormatInt(ts, 10)},
		"oauth_nonce": {n}, "oauth_signature_method": {c.sigMethod}}
	all := url.Values{}
	for k, v := range q {
		all[k] = v
	}
	for k, v := range oauth {
		all[k] = v
	}
	sig := oauthSign(method, c.base+"/wp-json/wc/v3"+path, all, c.cs, c.sigMethod)
	var hdr string
	if c.header {
		var parts []string
		for k, v := range oauth {
			parts = append(parts, k+`="`+pct(v[0])+`"`)
		}
		parts = append(parts, `oauth_signature="`+pct(sig)+`"`)
		hdr = "OAuth " + strings.Join(parts, ", ")
	} else {
		for k, v := range oauth {
			q[k] = v
		}
		q.Set("oauth_signature", sig)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.dial+"/wp-json/wc/v3"+path+"?"+q.Encode(), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if hdr != "" {
		req.Header.Set("Authorization", hdr)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) resp {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (c *client) must(status int, method, path string, query url.Values, body any) resp {
	c.t.Helper()
	r := c.do(method, path, query, body)
	if r.status != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

func start(t testing.TB, opts woosim.Options) *woosim.Server {
	t.Helper()
	return woosimtest.Start(t, opts, woosim.SeedOptions{})
}

func id(t testing.TB, m map[string]any) int64 {
	t.Helper()
	f, ok := m["id"].(float64)
	if !ok {
		t.Fatalf("no id in %v", m)
	}
	return int64(f)
}

func p(path string, a ...any) string {
	for _, x := range a {
		path = strings.Replace(path, "%d", strconv.FormatInt(toInt(x), 10), 1)
	}
	return path
}

func toInt(x any) int64 {
	switch v := x.(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	}
	panic("not an int")
}
