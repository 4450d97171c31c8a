package woo

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/url"
	"sort"
	"strings"
)

// RFC3986 encodes s as WooCommerce's wc_rest_urlencode_rfc3986 does
// (rawurlencode: unreserved characters A-Z a-z 0-9 - . _ ~ kept).
func RFC3986(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// SignatureBaseString builds the OAuth 1.0a base string the way
// WC_REST_Authentication::check_oauth_signature does: METHOD & enc(URL
// without query) & enc(sorted "k=v" pairs joined by "&"), where keys and
// values are RFC 3986 encoded before sorting by raw key. params must not
// hold oauth_signature.
func SignatureBaseString(method, baseURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			pairs = append(pairs, RFC3986(k)+"%3D"+RFC3986(RFC3986(v)))
		}
	}
	// Each pair is encoded again, "=" as %3D and "&" as %26, as PHP does.
	for i, p := range pairs {
		k, v, _ := strings.Cut(p, "%3D")
		pairs[i] = RFC3986(k) + "%3D" + v
	}
	return strings.ToUpper(method) + "&" + RFC3986(baseURL) + "&" + strings.Join(pairs, "%26")
}

// Sign returns base64(HMAC(secret+"&", base)) for method "HMAC-SHA1" or
// "HMAC-SHA256". It returns "" for other methods.
func Sign(signatureMethod, consumerSecret, base string) string {
	var h func() hash.Hash
	switch signatureMethod {
	case "HMAC-SHA1":
		h = sha1.New
	case "HMAC-SHA256":
		h = sha256.New
	default:
		return ""
	}
	mac := hmac.New(h, []byte(consumerSecret+"&"))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// WebhookSignature is base64(HMAC-SHA256(body, secret)), the value of
// X-WC-Webhook-Signature.
func WebhookSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
