package wire_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/wire"
)

var update = flag.Bool("update", false, "rewrite golden files")

// examples holds one message of every type; their encodings are the golden
// files in testdata, so any change to the wire shows in review.
var examples = []struct {
	typ, id string
	payload any
}{
	{wire.TypeHello, "", wire.Hello{LastSeq: 41, AgentVersion: "v0.1.0", StoreURL: "https://eu.example.com", OutboxDepth: 2}},
	{wire.TypeWelcome, "", wire.Welcome{StoreID: 3, StoreName: "eu", Policy: "mirror", HeadSeq: 44}},
	{wire.TypeChanges, "", wire.Changes{Changes: []wire.Change{
		{Seq: 42, SKU: "TEE-RED-M", Delta: -2, Target: 18},
		{Seq: 44, SKU: "MUG", Delta: 10, Target: 130},
	}}},
	{wire.TypeSnapshot, "", wire.Snapshot{Seq: 44, Targets: map[string]int64{"MUG": 130, "TEE-RED-M": 18}}},
	{wire.TypeOrder, "17", wire.Order{WooOrderID: 1093, Number: "1093", Status: "processing",
		DateModified: time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC),
		Lines:        []wire.OrderLine{{SKU: "TEE-RED-M", Quantity: 2, ProductID: 80, VariationID: 82}},
		Source:       "webhook"}},
	{wire.TypeAck, "17", wire.Ack{}},
	{wire.TypeAck, "18", wire.Ack{Error: "line 1: negative quantity"}},
	{wire.TypeApplied, "", wire.Applied{Seq: 44}},
	{wire.TypeStatus, "", wire.Status{OutboxDepth: 0, WebhooksOK: true, CatalogSKUs: 1200, UnknownSKUs: 3,
		DeadLetters: 1, WebhookHealth: wire.WebhookHealthOK}},
	{wire.TypeError, "", wire.Error{Code: "revoked", Message: "store credential revoked"}},
	{wire.TypeReclaim, "", wire.Reclaim{ID: 12, SKU: "MUG", Units: 5}},
	{wire.TypeReleased, "", wire.Released{ReclaimID: 12, SKU: "MUG", Released: 3}},
}

func TestGolden(t *testing.T) {
	seen := map[string]int{}
	for _, ex := range examples {
		seen[ex.typ]++
		name := ex.typ
		if seen[ex.typ] > 1 {
			name = fmt.Sprintf("%s.%d", ex.typ, seen[ex.typ])
		}
		t.Run(name, func(t *testing.T) {
			data, err := wire.Encode(ex.typ, ex.id, ex.payload)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, data, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("%s changed:\n got %s\nwant %s", path, pretty.Bytes(), want)
			}
			// Round trip: the golden decodes back into the same payload.
			env, err := wire.Decode(want)
			if err != nil {
				t.Fatal(err)
			}
			if env.Type != ex.typ || env.ID != ex.id {
				t.Fatalf("envelope = %q/%q, want %q/%q", env.Type, env.ID, ex.typ, ex.id)
			}
		})
	}
}

func TestDecode_Errors(t *testing.T) {
	for _, in := range []string{``, `{`, `{"id":"1"}`, `[]`} {
		if _, err := wire.Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) succeeded, want error", in)
		}
	}
	env, err := wire.Decode([]byte(`{"type":"stock.applied"}`))
	if err != nil {
		t.Fatal(err)
	}
	var a wire.Applied
	if err := wire.DecodePayload(env, &a); err == nil {
		t.Fatal("DecodePayload of an empty payload succeeded")
	}
}

func ExampleEncode() {
	data, _ := wire.Encode(wire.TypeApplied, "", wire.Applied{Seq: 44})
	fmt.Println(string(data))
	// Output: {"type":"stock.applied","payload":{"seq":44}}
}

func ExampleDecode() {
	env, _ := wire.Decode([]byte(`{"type":"stock.changes","payload":{"changes":[{"seq":7,"sku":"MUG","delta":-1,"target":9}]}}`))
	var c wire.Changes
	_ = wire.DecodePayload(env, &c)
	fmt.Println(env.Type, c.Changes[0].SKU, c.Changes[0].Delta)
	// Output: stock.changes MUG -1
}
