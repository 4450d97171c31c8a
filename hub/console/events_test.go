package console_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

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
		{"/stores", []string{`data-name="porto"`, "offline", "2 changes behind, oldest", `name="buffer" min="0" value="2"`, "not known yet"}},
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
