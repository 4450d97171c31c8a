// Webhook delivery: topics, queued and coalesced deliveries with
// WooCommerce's headers, signature and failure rule, the ping, and
// wp_json_encode.

package woosim

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/woo"
)

const userAgent = "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)"

type webhook struct {
	ID          int64
	Name        string
	Status      string
	Topic       string
	DeliveryURL string
	Secret      string
	Failures    int
	PendingPing bool
	Created     time.Time
	Modified    *time.Time
}

func (w *webhook) resource() string { r, _, _ := strings.Cut(w.Topic, "."); return r }
func (w *webhook) event() string    { _, e, _ := strings.Cut(w.Topic, "."); return e }

var topicHooks = map[string][]string{
	"order.created":    {"woocommerce_new_order"},
	"order.updated":    {"woocommerce_update_order", "woocommerce_order_refunded"},
	"order.deleted":    {"woocommerce_trash_order", "wp_trash_post"},
	"order.restored":   {"woocommerce_untrash_order", "untrashed_post"},
	"product.created":  {"woocommerce_process_product_meta", "woocommerce_new_product", "woocommerce_new_product_variation"},
	"product.updated":  {"woocommerce_process_product_meta", "woocommerce_update_product", "woocommerce_update_product_variation"},
	"product.deleted":  {"wp_trash_post"},
	"product.restored": {"untrashed_post"},
}

func validTopic(t string) bool {
	if strings.HasPrefix(t, "action.woocommerce_") || strings.HasPrefix(t, "action.wc_") {
		return true
	}
	r, e, ok := strings.Cut(t, ".")
	if !ok {
		return false
	}
	switch r {
	case "coupon", "customer", "order", "product":
	default:
		return false
	}
	switch e {
	case "created", "updated", "deleted", "restored":
		return true
	}
	return false
}

type webhookJSON struct {
	ID              int64             `json:"id"`
	Name            string            `json:"name"`
	Status          string            `json:"status"`
	Topic           string            `json:"topic"`
	Resource        string            `json:"resource"`
	Event           string            `json:"event"`
	Hooks           []string          `json:"hooks"`
	DeliveryURL     string            `json:"delivery_url"`
	DateCreated     string            `json:"date_created"`
	DateCreatedGMT  string            `json:"date_created_gmt"`
	DateModified    *string           `json:"date_modified"`
	DateModifiedGMT *string           `json:"date_modified_gmt"`
	Links           map[string][]link `json:"_links"`
}

func (s *Store) webhookView(w *webhook) *webhookJSON {
	hooks := topicHooks[w.Topic]
	if hooks == nil {
		hooks = []string{}
	}
	if strings.HasPrefix(w.Topic, "action.") {
		hooks = []string{w.event()}
	}
	return &webhookJSON{ID: w.ID, Name: w.Name, Status: w.Status, Topic: w.Topic, Resource: w.resource(),
		Event: w.event(), Hooks: hooks, DeliveryURL: w.DeliveryURL,
		DateCreated: fmtDate(w.Created), DateCreatedGMT: fmtDate(w.Created),
		DateModified: fmtDatePtr(w.Modified), DateModifiedGMT: fmtDatePtr(w.Modified),
		Links: map[string][]link{
			"self":       {{Href: s.home + "/wp-json/wc/v3/webhooks/" + strconv.FormatInt(w.ID, 10), TargetHints: &targetHints{Allow: allowAll}}},
			"collection": {{Href: s.home + "/wp-json/wc/v3/webhooks"}},
		},
	}
}

type deliveryKey struct {
	webhook  int64
	resource int64
	deleted  bool
}

// fire queues topic for resource id on every active webhook subscribed to
// it. A delivery already pending for the same webhook and resource absorbs
// the event (Action Scheduler's dedup). Caller holds s.mu.
func (s *Store) fire(topic string, id int64) {
	if s.closed {
		return
	}
	delay := s.opts.WebhookDelay
	if s.faults.WebhookDelayMS > 0 {
		delay = time.Duration(s.faults.WebhookDelayMS) * time.Millisecond
	}
	for _, w := range s.webhooks {
		if w.Status != "active" || w.Topic != topic {
			continue
		}
		k := deliveryKey{webhook: w.ID, resource: id, deleted: strings.HasSuffix(topic, ".deleted")}
		if _, ok := s.pending[k]; ok {
			continue
		}
		s.deliverWG.Add(1)
		s.pending[k] = time.AfterFunc(delay, func() { s.runDelivery(k) })
	}
}

// deliveryRunners is how many deliveries run at once. WooCommerce
// delivers from Action Scheduler's queue runners, each one delivery at a
// time; a burst of events (a batch update of 100 products) waits its turn
// instead of reaching the receiver all at once.
const deliveryRunners = 4

// runDelivery is a timer's body: once a runner is free it claims k and
// delivers it. Until then k stays pending, so later events of the same
// resource join it.
func (s *Store) runDelivery(k deliveryKey) {
	defer s.deliverWG.Done()
	select {
	case s.runners <- struct{}{}:
	case <-s.stopCtx.Done():
		return
	}
	defer func() { <-s.runners }()
	s.mu.Lock()
	if _, ok := s.pending[k]; !ok {
		s.mu.Unlock()
		return
	}
	delete(s.pending, k)
	s.mu.Unlock()
	s.deliver(k)
}

// FlushWebhooks delivers every queued webhook now and returns when they are
// done, as a request to wp-cron.php would.
func (s *Store) FlushWebhooks() {
	s.mu.Lock()
	var keys []deliveryKey
	for k, t := range s.pending {
		if t.Stop() {
			keys = append(keys, k)
			delete(s.pending, k)
		}
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.deliver(k)
		s.deliverWG.Done()
	}
}

// PendingWebhooks returns how many deliveries are queued.
func (s *Store) PendingWebhooks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Store) deliver(k deliveryKey) {
	s.mu.Lock()
	w := s.webhooks[k.webhook]
	if w == nil || w.Status != "active" {
		s.mu.Unlock()
		return
	}
	if s.faults.DropWebhookRate > 0 && rand.Float64() < s.faults.DropWebhookRate {
		s.stats.WebhooksDropped++
		s.mu.Unlock()
		return
	}
	var payload any
	switch {
	case k.deleted:
		payload = map[string]int64{"id": k.resource}
	case w.resource() == "order":
		if o := s.orders[k.resource]; o != nil {
			payload = s.orderView(o)
		} else {
			payload = newErr(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.").body()
		}
	default:
		if p := s.products[k.resource]; p != nil {
			payload = s.productView(p)
		} else {
			payload = newErr(404, "woocommerce_rest_product_invalid_id", "Invalid ID.").body()
		}
	}
	body, err := wpJSON(payload)
	if err != nil {
		s.mu.Unlock()
		s.logger.Error("encode webhook payload", "error", err)
		return
	}
	target, secret, topic, id, source := w.DeliveryURL, w.Secret, w.Topic, w.ID, s.home+"/"
	s.mu.Unlock()

	sum := md5.Sum([]byte(strconv.FormatInt(id, 10) + strconv.FormatInt(s.opts.Now().Unix(), 10)))
	req, err := http.NewRequestWithContext(s.stopCtx, http.MethodPost, target, bytes.NewReader(body))
	ok := false
	status := 0
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", userAgent)
		req.Header.Set(woo.HeaderWebhookSource, source)
		req.Header.Set(woo.HeaderWebhookTopic, topic)
		r, e, _ := strings.Cut(topic, ".")
		req.Header.Set(woo.HeaderWebhookResource, r)
		req.Header.Set(woo.HeaderWebhookEvent, e)
		req.Header.Set(woo.HeaderWebhookSignature, woo.WebhookSignature(secret, body))
		req.Header.Set(woo.HeaderWebhookID, strconv.FormatInt(id, 10))
		req.Header.Set(woo.HeaderWebhookDeliveryID, hex.EncodeToString(sum[:]))
		req.Close = true
		resp, derr := s.client.Do(req)
		if derr == nil {
			status = resp.StatusCode
			_, _ = bytesDiscard(resp)
			ok = status >= 200 && status <= 302
		} else {
			err = derr
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		w.Failures = 0
		s.stats.WebhooksDelivered++
		s.logger.Debug("webhook delivered", "webhook_id", id, "topic", topic, "status", status)
		return
	}
	s.stats.WebhooksFailed++
	if w.Failures > 5 {
		w.Status = "disabled"
		s.logger.Warn("webhook disabled after failures", "webhook_id", id)
	} else {
		w.Failures++
	}
	s.logger.Debug("webhook delivery failed", "webhook_id", id, "topic", topic, "status", status, "error", err)
}

func bytesDiscard(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	var buf [4096]byte
	var n int64
	for {
		m, err := resp.Body.Read(buf[:])
		n += int64(m)
		if err != nil || n > 1<<20 {
			return n, nil
		}
	}
}

// ping sends the unsigned webhook_id=N ping; only 200 clears pending.
// Called without s.mu held.
func (s *Store) ping(id int64, target string) bool {
	ctx, cancel := context.WithTimeout(s.stopCtx, 5*time.Second)
	defer cancel()
	body := "webhook_id=" + strconv.FormatInt(id, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	req.Close = true
	s.mu.Lock()
	s.stats.Pings++
	s.mu.Unlock()
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = bytesDiscard(resp)
	return resp.StatusCode == http.StatusOK
}

// wpJSON encodes v as wp_json_encode does: "/" as "\/", non-ASCII as
// \uXXXX, no HTML escaping of < > &.
func wpJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	raw := bytes.TrimSpace(buf.Bytes())
	out := make([]byte, 0, len(raw)+len(raw)/16)
	inStr := false
	for i := 0; i < len(raw); {
		c := raw[i]
		if inStr && c == '\\' {
			out = append(out, c, raw[i+1])
			i += 2
			continue
		}
		if c == '"' {
			inStr = !inStr
		}
		if inStr && c == '/' {
			out = append(out, '\\', '/')
			i++
			continue
		}
		if c >= 0x80 {
			r, size := decodeRune(raw[i:])
			if r >= 0x10000 {
				r -= 0x10000
				out = fmt.Appendf(out, "\\u%04x\\u%04x", 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				out = fmt.Appendf(out, "\\u%04x", r)
			}
			i += size
			continue
		}
		out = append(out, c)
		i++
	}
	return out, nil
}

func decodeRune(b []byte) (rune, int) {
	r := []rune(string(b[:min(len(b), 4)]))
	if len(r) == 0 {
		return 0xFFFD, 1
	}
	return r[0], len(string(r[0]))
}

var errRefused = errors.New("a valid URL was not provided")

// newWebhookTransport returns a transport; with refusePrivate it acts as
// wp_safe_remote_request (no loopback/private targets, ports 80/443/8080).
func newWebhookTransport(refusePrivate bool) http.RoundTripper {
	t := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if !refusePrivate {
		return t
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if port != "80" && port != "443" && port != "8080" {
			return nil, errRefused
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if ip.IP.IsLoopback() || ip.IP.IsPrivate() || ip.IP.IsUnspecified() || ip.IP.IsLinkLocalUnicast() {
				return nil, errRefused
			}
		}
		return d.DialContext(ctx, network, net.JoinHostPort(ips[0].IP.String(), port))
	}
	return t
}

func validDeliveryURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}
