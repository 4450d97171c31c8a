package webhook_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/webhook"
	"github.com/stockwire/stockwire/shared/woo"
)

const childEnv = "STOCKWIRE_WEBHOOK_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	goleak.VerifyTestMain(m)
}

// runChild serves the receiver over a real outbox and prints its address.
func runChild(path string) int {
	logger := slog.New(slog.DiscardHandler)
	box, err := outbox.Open(path, outbox.Options{Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("listening %s\n", ln.Addr())
	h, err := webhook.NewHandler(secret, box, logger, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(ln)
	return 0
}

func orderBody(id int64) []byte {
	return fmt.Appendf(nil, `{"id":%d,"number":"%d","status":"processing","date_modified_gmt":"2026-11-22T08:55:28","line_items":[{"id":1,"product_id":11,"variation_id":0,"quantity":1,"sku":"RW-SKU-001"}]}`, id, id)
}

// TestHandler_SurvivesKill9 kills a real receiver process with SIGKILL right
// after it answered 200: every order it answered 200 for is in the outbox.
func TestHandler_SurvivesKill9(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	answered := map[int64]bool{}
	next := int64(1000)
	client := &http.Client{Timeout: 10 * time.Second}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = t.Output()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			t.Fatal("child printed no address")
		}
		addr := strings.TrimPrefix(sc.Text(), "listening ")
		killAfter := 1 + rand.IntN(20)
		for i := 0; i < killAfter; i++ {
			next++
			body := orderBody(next)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/webhooks/woocommerce", bytes.NewReader(body))
			req.Header.Set(woo.HeaderWebhookTopic, woo.TopicOrderCreated)
			req.Header.Set(woo.HeaderWebhookSignature, woo.WebhookSignature(secret, body))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			answered[next] = true
		}
		// Killed right after the last 200.
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		t.Logf("round %d: killed after %d answered deliveries", round, killAfter)
	}
	box, err := outbox.Open(path, outbox.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	evs, err := box.After(0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, ev := range evs {
		have[ev.Order.WooOrderID] = true
	}
	for id := range answered {
		if !have[id] {
			t.Fatalf("order %d answered 200 but lost after kill -9", id)
		}
	}
	if len(evs) != len(answered) {
		t.Fatalf("outbox holds %d events, answered %d", len(evs), len(answered))
	}
}
