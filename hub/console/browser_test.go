package console_test

import (
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

// screenshotDir is where the browser test leaves its screenshots: in the
// package, git-ignored, so that they outlive the test's temporary dirs.
const screenshotDir = "testoutput"

// TestConsole_Chromium drives the console of a real hub, with a woosim
// store and its agent, in headless Chromium: log in, watch a checkout
// appear on the orders page and change the SKU's figures without a
// reload, edit the store's buffer, log out.
func TestConsole_Chromium(t *testing.T) {
	t.Parallel()
	const storeName = "Lisbon Outlet"
	h := systest.StartHub(t, systest.HubOptions{DatabaseURL: pgtest.NewEmptyDB(t)})
	const key, secret = "ck_console00000000000000000000000000000000", "cs_console00000000000000000000000000000000"
	store := systest.StartWoosim(t, systest.WoosimOptions{ConsumerKey: key, ConsumerSecret: secret,
		Products: 3, Stock: 20, WebhookDelay: 50 * time.Millisecond})
	for _, sku := range store.SKUs() {
		h.MustAPI(http.MethodPut, "/api/v1/skus/"+sku+"/locations/main", map[string]any{"on_hand": 20}, nil)
	}
	storeID, token := h.CreateStore(storeName, store.URL, "mirror")
	systest.StartAgent(t, systest.AgentOptions{Hub: h.URL(), StoreURL: store.URL,
		Token: token, ConsumerKey: key, ConsumerSecret: secret, Args: []string{"--poll-interval", "1s"}})
	h.WaitConnected(storeName, true)
	sku := store.SKUs()[0]
	base := h.URL()
	browser := startChromium(t)
	page := browser.NewTab()

	t.Run("LogIn", func(t *testing.T) {
		page.Navigate(base + "/")
		page.WaitFor("the login form", `location.pathname === "/login" && document.getElementById("token")`)
		page.MustEval(`document.getElementById("token").value = ` + strconv.Quote(systest.AdminToken) +
			`; document.getElementById("login").click(); true`)
		page.WaitFor("the overview", `location.pathname === "/" && document.getElementById("stores-up")`)
		if got := page.Text("#stores-up"); got != "1" {
			t.Fatalf("stores up=%q, want 1", got)
		}
	})

	t.Run("CheckoutShowsLive", func(t *testing.T) {
		page.Navigate(base + "/orders")
		skus := browser.NewTab()
		skus.Navigate(base + "/skus?sku=" + sku)
		for _, p := range []*tab{page, skus} {
			p.WaitFor("the event stream", `document.getElementById("live").classList.contains("on")`)
			p.MustEval(`window.notReloaded = true`)
		}
		if got := skus.Text("#available"); got != "20" {
			t.Fatalf("available before the sale=%q, want 20", got)
		}
		if err := store.Checkout(sku, 2); err != nil {
			t.Fatal(err)
		}
		page.WaitFor("the order on the orders page, without a reload",
			`window.notReloaded && document.querySelector("[data-woo-order] a[href$='`+sku+`']")`)
		skus.WaitFor("the SKU's figures to drop, without a reload",
			`window.notReloaded && document.getElementById("available").textContent === "18" && document.getElementById("committed").textContent === "2"`)
		skus.WaitFor("the store's target to drop", `document.querySelector("tr[data-store] .target").textContent === "18"`)
		page.Screenshot(filepath.Join(screenshotDir, "orders.png"))
		skus.Screenshot(filepath.Join(screenshotDir, "skus.png"))

		page.Navigate(base + "/")
		page.WaitFor("today's sale on the overview",
			`document.getElementById("orders-today").textContent === "1" && document.getElementById("units-today").textContent === "2"`)
		page.Screenshot(filepath.Join(screenshotDir, "overview.png"))
	})

	t.Run("EditBuffer", func(t *testing.T) {
		page.Navigate(base + "/stores")
		row := `#store-` + strconv.FormatInt(storeID, 10)
		// The marker goes with the page the form leaves.
		page.MustEval(`window.beforeSave = true; document.querySelector("` + row + ` input[name=buffer]").value = "3"; document.querySelector("` + row + ` button").click(); true`)
		page.WaitFor("the stores page again, with the new buffer",
			`!window.beforeSave && location.pathname === "/stores" && document.readyState === "complete" && document.querySelector("`+row+` input[name=buffer]").value === "3"`)
		var st struct {
			Buffer int64 `json:"buffer"`
		}
		h.MustAPI(http.MethodGet, "/api/v1/stores/"+strconv.FormatInt(storeID, 10), nil, &st)
		if st.Buffer != 3 {
			t.Fatalf("buffer=%d after the edit, want 3", st.Buffer)
		}
		page.Screenshot(filepath.Join(screenshotDir, "stores.png"))
	})

	t.Run("LogOut", func(t *testing.T) {
		var jar struct {
			Cookies []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"cookies"`
		}
		if err := browser.call("", "Storage.getCookies", map[string]any{}, &jar); err != nil {
			t.Fatal(err)
		}
		var session *http.Cookie
		for _, c := range jar.Cookies {
			if c.Name == "stockwire_console" {
				session = &http.Cookie{Name: c.Name, Value: c.Value}
			}
		}
		if session == nil {
			t.Fatalf("no session cookie in the browser: %+v", jar.Cookies)
		}
		page.MustEval(`document.getElementById("logout").click(); true`)
		page.WaitFor("the login page", `location.pathname === "/login" && document.getElementById("token")`)
		page.Navigate(base + "/stores")
		page.WaitFor("a redirect to the login page", `location.pathname === "/login"`)

		// The cookie, copied before logout, opens nothing now.
		cj, _ := cookiejar.New(nil)
		client := &http.Client{Jar: cj, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/stores", nil)
		req.AddCookie(session)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("GET /stores with the logged-out cookie: %d %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}
