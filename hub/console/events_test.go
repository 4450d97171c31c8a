package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

func TestConsole_Events(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	b := tc.Browser(t)
	b.MustLogin()

	ctx := waitCtx(t)
	req, err := http.NewRequestWithContext(ctx, "GET", tc.ts.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(resp.Body)

	// A count changes stock: the stream says so (found by polling, as no
	// Notify is called here).
	if _, err := tc.inv.SetCount(t.Context(), hub.Count{SKU: "TEE-M", Location: "main", OnHand: 5, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		if lines.Text() == "event: change" {
			break
		}
	}
	if err := lines.Err(); err != nil || ctx.Err() != nil {
		t.Fatalf("no change event after a count: %v %v", err, ctx.Err())
	}

	// Close ends the stream, so that a server's shutdown need not wait.
	tc.console.Close()
	for lines.Scan() {
	}
	if ctx.Err() != nil {
		t.Fatal("the stream did not end when the console closed")
	}
}

func TestConsole_Pages(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	tc.MustStore(t, "porto", 2)
	tc.MustExec(t, `UPDATE stores SET edits_reverted = 5 WHERE name = 'porto'`) // as its agent reported
	if _, err := tc.inv.SetCount(t.Context(), hub.Count{SKU: "MUG-BLUE", Location: "main", OnHand: 12, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.inv.SetCount(t.Context(), hub.Count{SKU: "MUG-BLUE", Location: "annex", OnHand: 3, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	b := tc.Browser(t)
	b.MustLogin()
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/", []string{`id="stores-down" class="bad">1<`, `id="orders-today">0<`, `id="deliveries-dead">0<`}},
		{"/stores", []string{`data-name="porto"`, "offline", "2 changes behind, oldest", `name="buffer" min="0" value="2"`, "not known yet",
			`<td class="drift warn">5 set back<br><small>0 accepted</small>`}},
		{"/skus?q=mug", []string{`id="available">15<`, "annex", `<td class="target">13</td>`, "<polyline", "2 ledger changes"}},
		{"/orders", []string{"No orders yet."}},
		{"/problems", []string{"<h2>Dead webhook deliveries</h2>"}},
	} {
		resp, body := b.Do("GET", c.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d: %s", c.path, resp.StatusCode, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q:\n%s", c.path, w, body)
			}
		}
	}
}

func TestConsole_EventsEndWithTheClient(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	b := tc.Browser(t)
	b.MustLogin()
	ctx, cancel := context.WithCancel(waitCtx(t))
	req, err := http.NewRequestWithContext(ctx, "GET", tc.ts.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	cancel()
	resp.Body.Close()
	// httptest's Close waits for every request in flight: it returns once
	// the stream's handler has seen the client go.
	closed := make(chan struct{})
	go func() { tc.ts.Close(); close(closed) }()
	select {
	case <-closed:
	case <-waitCtx(t).Done():
		t.Fatal("the event stream's handler still runs after its client went away")
	}
}

func TestConsole_EnableWebhook(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	hook, _, err := tc.console.Webhooks.CreateWebhook(t.Context(), hub.NewWebhook{URL: "https://erp.example/hooks",
		Events: []string{"order.created"}, Description: "erp", Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	b := tc.Browser(t)
	b.MustLogin()
	if _, body := b.Do("GET", "/problems", nil); !strings.Contains(body, "https://erp.example/hooks") {
		t.Fatalf("the disabled webhook is not on the problems page:\n%s", body)
	}
	csrf := b.MustCSRF("/problems")
	resp, body := b.Do("POST", "/problems/webhooks/"+strconv.FormatInt(hook.ID, 10)+"/enable", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d: %s", resp.StatusCode, body)
	}
	got, err := tc.console.Webhooks.Webhook(t.Context(), hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled {
		t.Fatal("webhook still disabled")
	}
	if _, body := b.Do("GET", "/problems", nil); strings.Contains(body, "https://erp.example/hooks") {
		t.Fatalf("the enabled webhook is still listed as a problem:\n%s", body)
	}
}

func TestConsole_NotifyWakesStreams(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	tc.console.PollInterval = time.Hour // only Notify can wake the stream
	b := tc.Browser(t)
	b.MustLogin()
	ctx := waitCtx(t)
	req, err := http.NewRequestWithContext(ctx, "GET", tc.ts.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || lines.Text() != "retry: 3000" {
		t.Fatalf("stream began with %q, want its retry line", lines.Text())
	}
	if _, err := tc.inv.SetCount(t.Context(), hub.Count{SKU: "CAP", Location: "main", OnHand: 1, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	tc.console.Notify() // as the hub does on PostgreSQL's stock notification
	for lines.Scan() {
		if lines.Text() == "event: change" {
			return
		}
	}
	t.Fatalf("no change event after Notify: %v %v", lines.Err(), ctx.Err())
}

func TestConsole_OrderAndItsProblem(t *testing.T) {
	t.Parallel()
	tc := MustConsole(t, false)
	st := tc.MustStore(t, "braga", 0)
	if _, err := tc.inv.SetCount(t.Context(), hub.Count{SKU: "TEE-M", Location: "main", OnHand: 10, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	orders := tc.console.Orders
	if _, err := orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{WooOrderID: 501, Number: "501", Status: "processing",
		DateModified: time.Now(), Lines: []hub.OrderLine{{SKU: "TEE-M", Quantity: 3}, {SKU: "NO-SUCH-SKU", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	b := tc.Browser(t)
	b.MustLogin()
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/", []string{`id="orders-today">1<`, `id="units-today">3<`, `id="problems" class="bad">1<`}},
		{"/orders", []string{`data-woo-order="501"`, "braga #501", "processing", "stock committed", ">TEE-M</a></td><td>3</td>", "parked:", "ERP: no reference yet"}},
		{"/problems", []string{"parked_line", "NO-SUCH-SKU</a> × 1", "braga", "#501", "an alias"}},
		{"/skus?q=TEE", []string{`id="committed">3<`, `id="available">7<`}},
		{"/stores", []string{"<td>" + time.Now().UTC().Format("2006-01-02 ")}}, // the last sale
	} {
		resp, body := b.Do("GET", c.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d: %s", c.path, resp.StatusCode, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q:\n%s", c.path, w, body)
			}
		}
	}
}
