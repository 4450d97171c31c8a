package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// jsPackage is the Standard Webhooks specification's own JavaScript
// verifier, pinned.
const jsPackage = "standardwebhooks@1.3.0"

// jsVerify verifies the delivery in $WH_DIR (body, headers.json) with
// $WH_SECRET, then checks that a tampered body is refused.
const jsVerify = `
const fs = require("fs"), path = require("path");
const { Webhook } = require("standardwebhooks");
const dir = process.env.WH_DIR;
const body = fs.readFileSync(path.join(dir, "body"), "utf8");
const headers = JSON.parse(fs.readFileSync(path.join(dir, "headers.json"), "utf8"));
const wh = new Webhook(process.env.WH_SECRET);
const payload = wh.verify(body, headers);
let tampered = "accepted";
try { wh.verify(body.replace("processing", "cancelled"), headers); } catch (e) { tampered = "refused"; }
console.log(JSON.stringify({type: payload.type, woo_order_id: payload.data.woo_order_id, tampered}));
`

func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// mustNodeModules installs jsPackage once into .cache (as shared/woosim's
// test does for the WooCommerce client, in a prefix of its own so that the
// two packages' tests may install at once) and returns its node_modules.
func mustNodeModules(tb testing.TB, ctx context.Context) string {
	tb.Helper()
	cache := filepath.Join(repoRoot(tb), ".cache", "npm-standardwebhooks")
	modules := filepath.Join(cache, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "standardwebhooks", "package.json")); err == nil {
		return modules
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		tb.Fatal("npm is not installed: it is needed once to install " + jsPackage + " into .cache/npm-standardwebhooks (apt-get install nodejs npm)")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", cache, jsPackage).CombinedOutput()
	if err != nil {
		tb.Fatalf("npm install %s: %v\n%s", jsPackage, err, out)
	}
	return modules
}

// TestSender_StandardWebhooksJS: the specification's own verifier (npm
// standardwebhooks) accepts a real delivery and refuses it tampered.
func TestSender_StandardWebhooksJS(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the standardwebhooks verifier test needs node and npm (apt-get install nodejs npm)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	modules := mustNodeModules(t, ctx)

	e := MustEnv(t)
	type capture struct {
		body   []byte
		header http.Header
	}
	got := make(chan capture, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- capture{b, r.Header.Clone()}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	_, secret, err := e.hooks.CreateWebhook(t.Context(), hub.NewWebhook{URL: ts.URL, Events: []string{hub.EventOrderCreated}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	MustRun(t, newSender(t, e.hooks, nil))
	e.MustReport(t, 4242, "processing", 0)
	var c capture
	select {
	case c = <-got:
	case <-ctx.Done():
		t.Fatal("no delivery")
	}

	dir := t.TempDir()
	headers, _ := json.Marshal(map[string]string{
		"webhook-id": c.header.Get("webhook-id"), "webhook-timestamp": c.header.Get("webhook-timestamp"),
		"webhook-signature": c.header.Get("webhook-signature"),
	})
	for name, b := range map[string][]byte{"body": c.body, "headers.json": headers, "verify.js": []byte(jsVerify)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "verify.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "WH_DIR="+dir, "WH_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("standardwebhooks verify: %v\n%s%s", err, out, stderr)
	}
	var res struct {
		Type       string `json:"type"`
		WooOrderID int64  `json:"woo_order_id"`
		Tampered   string `json:"tampered"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if res.Type != hub.EventOrderCreated || res.WooOrderID != 4242 || res.Tampered != "refused" {
		t.Fatalf("standardwebhooks saw %+v", res)
	}
}
