package dashboards_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/systest"
)

// dumpDOM renders pageURL in headless Chromium and returns the DOM after
// scripts ran.
func dumpDOM(t *testing.T, pageURL string) string {
	t.Helper()
	requireTool(t, chromiumBin, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumBin, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--dump-dom", pageURL)
	// Chromium starts helper processes: on timeout, end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", pageURL, err, stderr.Bytes())
	}
	return stdout.String()
}

// adminProxy forwards to the hub with the admin token added. /status, like
// every admin route, wants `Authorization: Bearer <admin token>`, which a
// browser does not send by itself: operators put such a proxy (or a header
// extension) in front, and Chromium's command line cannot set headers.
func adminProxy(t *testing.T, hubAddr string) *httptest.Server {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: hubAddr}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("Authorization", "Bearer "+systest.AdminToken)
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv
}

// storeRow returns the status page's table row holding name, or "".
func storeRow(dom, name string) string {
	i := strings.Index(dom, name)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(dom[:i], "<tr")
	end := strings.Index(dom[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return dom[start : i+end]
}

func TestStatusPage_ChromiumShowsStoreOnline(t *testing.T) {
	t.Parallel()
	requireTool(t, chromiumBin, "chromium")
	s := startSystem(t)

	t.Run("WithoutAdminToken", func(t *testing.T) {
		dom := dumpDOM(t, "http://"+s.hub.Addr+"/status")
		if !strings.Contains(dom, "Bearer") || strings.Contains(dom, storeName) {
			t.Fatalf("/status without the admin token should be refused, rendered:\n%s", dom)
		}
	})

	t.Run("OK", func(t *testing.T) {
		dom := dumpDOM(t, adminProxy(t, s.hub.Addr).URL+"/status")
		if !strings.Contains(dom, "1 stores, 1 agents online") {
			t.Errorf("summary line missing; rendered:\n%s", dom)
		}
		row := storeRow(dom, storeName)
		if row == "" {
			t.Fatalf("no row for %q; rendered:\n%s", storeName, dom)
		}
		if !strings.Contains(row, `<td class="online">online</td>`) {
			t.Fatalf("store %q not shown online (agent connected): %s", storeName, row)
		}
	})
}
