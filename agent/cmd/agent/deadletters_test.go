package main_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woosim"
)

// `agent dead-letters list|replay` shows the reports the hub refused and
// moves them back into the outbox; with the outbox held by a running agent
// it says so and changes nothing.
func TestAgent_DeadLetters(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "outbox.db")
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	modified := time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC)
	id, err := ob.Append(t.Context(), wire.Order{WooOrderID: 1093, Status: "processing", DateModified: modified})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Park(id, "line 1: negative quantity"); err != nil {
		t.Fatal(err)
	}

	t.Run("Help", func(t *testing.T) {
		for _, args := range [][]string{{"dead-letters", "--help"}, {"dead-letters", "list", "--help"}} {
			code, out := runAgent(t, args, nil)
			if code != 0 || !strings.Contains(out, "Usage: agent dead-letters") {
				t.Fatalf("%v: exit status %d; output:\n%s", args, code, out)
			}
		}
	})
	t.Run("OutboxInUse", func(t *testing.T) {
		code, out := runAgent(t, []string{"dead-letters", "replay", "--data-dir", dataDir}, nil)
		if code == 0 || !strings.Contains(out, "is the agent still running? stop it first") {
			t.Fatalf("exit status %d with the outbox held by another process; output:\n%s", code, out)
		}
	})
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"dead-letters"}, "want list or replay"},
			{[]string{"dead-letters", "drop", "--data-dir", dataDir}, `dead-letters "drop": want list or replay`},
			{[]string{"dead-letters", "list", "--data-dir", filepath.Join(dataDir, "nowhere")}, "no outbox in --data-dir"},
		} {
			code, out := runAgent(t, tc.args, nil)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Errorf("agent %v: exit status %d, output does not say %q:\n%s", tc.args, code, tc.want, out)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		code, out := runAgent(t, []string{"dead-letters", "list", "--data-dir", dataDir}, nil)
		if code != 0 {
			t.Fatalf("exit status %d; output:\n%s", code, out)
		}
		for _, want := range []string{"order 1093\tstatus processing\tmodified 2026-11-22T08:55:28Z", "reason: line 1: negative quantity", "1 dead letters"} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
		}
	})
	t.Run("ShownByTheRunningAgent", func(t *testing.T) {
		h := startHub(t)
		key, secret := newKeys()
		sim := newStore(t, woosim.Options{ConsumerKey: key, ConsumerSecret: secret})
		_, token := h.CreateStore("dead-letters-shop", sim.URL, "mirror")
		listen, metricsListen := systest.FreeAddr(t), systest.FreeAddr(t)
		p := systest.Start(t, "agent", []string{"--hub", h.URL(), "--store-url", sim.URL, "--listen", listen, "--metrics-listen", metricsListen,
			"--data-dir", dataDir, "--log-format", "text"},
			[]string{"STOCKWIRE_TOKEN=" + token, "STOCKWIRE_CONSUMER_KEY=" + key, "STOCKWIRE_CONSUMER_SECRET=" + secret})
		waitHealthy(t, p, listen)
		resp, err := http.Get("http://" + listen + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			DeadLetters int `json:"dead_letters"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || got.DeadLetters != 1 {
			t.Fatalf("/healthz dead_letters=%d, %v; want 1", got.DeadLetters, err)
		}
		if n, err := metric(metricsListen, "stockwire_agent_outbox_dead_letters"); err != nil || n != 1 {
			t.Fatalf("stockwire_agent_outbox_dead_letters=%v, %v; want 1", n, err)
		}
		out := stopAgent(t, p)
		if !strings.Contains(out, "dead_letters=1") {
			t.Fatalf("the agent does not say at start that dead letters wait; output:\n%s", out)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		code, out := runAgent(t, []string{"dead-letters", "replay", "--data-dir", dataDir}, nil)
		if code != 0 || !strings.Contains(out, "1 dead letters moved back into the outbox") {
			t.Fatalf("exit status %d; output:\n%s", code, out)
		}
		ob, err := outbox.Open(path, outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		evs, err := ob.After(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Order.WooOrderID != 1093 || ob.DeadLetterCount() != 0 {
			t.Fatalf("after the replay: outbox %+v, %d dead letters; want order 1093 back and none parked", evs, ob.DeadLetterCount())
		}
	})
}
