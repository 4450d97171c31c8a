package web_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestServer_StatusPage(t *testing.T) {
	t.Parallel()
	f := newFakes(t)
	seen := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	f.stores.StoresFn = func(ctx context.Context) ([]hub.Store, error) {
		return []hub.Store{
			{ID: 1, Name: "eu <&>", URL: "https://eu.example", Policy: hub.PolicyMirror, Buffer: 2, Status: hub.StoreActive,
				Agent: hub.AgentState{Connected: true, LastSeen: &seen, AppliedSeq: 40, HeadSeq: 42, SeqLag: 2, OutboxDepth: 1,
					DeadLetters: 2, WebhookHealth: hub.WebhookHealthFailing, Replica: "hub-a"}},
			{ID: 2, Name: "us", URL: "javascript:alert(1)", Policy: hub.PolicyAllocate, Status: hub.StoreRevoked},
			{ID: 3, Name: "kids", URL: "https://kids.example", Policy: hub.PolicyMirror, Status: hub.StoreActive,
				Agent: hub.AgentState{Connected: true, LastSeen: &seen, AppliedSeq: 7, HeadSeq: 7, WebhookHealth: hub.WebhookHealthOK, Replica: "hub-b"}},
		}, nil
	}
	resp, b := f.do(t, "GET", "/status", adminToken, "")
	if resp.StatusCode != 200 {
		t.Fatalf("status=%d: %s", resp.StatusCode, b)
	}
	golden := filepath.Join("testdata", "status.html")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Fatalf("status page differs from %s (run with -update):\n%s", golden, b)
	}
	if resp, _ := f.do(t, "GET", "/status", "", ""); resp.StatusCode != 401 {
		t.Fatalf("status page without token=%d", resp.StatusCode)
	}
}
