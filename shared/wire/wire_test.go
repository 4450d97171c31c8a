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
	{wire.TypeHello, "", wire.Hello{LastSeq: 41, Epoch: "9f3c2a71d04e8b65", AgentVersion: "v0.1.0", StoreURL: "https://eu.example.com", OutboxDepth: 2,
		SnapshotChunks: true}},
	{wire.TypeWelcome, "", wire.Welcome{StoreID: 3, StoreName: "eu", Policy: "mirror", HeadSeq: 44, Epoch: "9f3c2a71d04e8b65"}},
	{wire.TypeChanges, "", wire.Changes{Changes: []wire.Change{
		{Seq: 42, SKU: "TEE-RED-M", Delta: -2, Target: 18},
		{Seq: 44, SKU: "MUG", Delta: 10, Target: 130},
	}}},
	{wire.TypeSnapshot, "", wire.Snapshot{Seq: 44, Targets: map[string]int64{"MUG": 130, "TEE-RED-M": 18}}},
	{wire.TypeSnapshot, "", wire.Snapshot{Seq: 44, Targets: map[string]int64{"TEE-RED-L": 4, "TEE-RED-M": 18}, Chunk: 1, Chunks: 3}},
	{wire.TypeOrder, "17", wire.Order{WooOrderID: 1093, Number: "1093", Status: "processing",
		DateModified: time.Date(2026, 11, 22, 8, 55, 28, 0, time.UTC),
		Lines:        []wire.OrderLine{{SKU: "TEE-RED-M", Quantity: 2, ProductID: 80, VariationID: 82}},
		Source:       "webhook"}},
	{wire.TypeEdit, "19", wire.StoreEdit{ID: "5d0e9b1f7a2c4e68b3a1c9d2e4f60718", SKU: "MUG", From: 50, To: 57,
		EditedAt: time.Date(2026, 11, 22, 9, 2, 11, 0, time.UTC)}},
	{wire.TypeAck, "17", wire.Ack{}},
	{wire.TypeAck, "18", wire.Ack{Error: "line 1: negative quantity"}},
	{wire.TypeApplied, "", wire.Applied{Seq: 44}},
	{wire.TypeStatus, "", wire.Status{OutboxDepth: 0, WebhooksOK: true, CatalogSKUs: 1200, UnknownSKUs: 3,
		DeadLetters: 1, WebhookHealth: wire.WebhookHealthOK}},
	{wire.TypeError, "", wire.Error{Code: "revoked", Message: "store credential revoked"}},
	{wire.TypeReclaim, "", wire.Reclaim{ID: 12, SKU: "MUG", Units: 5}},
	{wire.TypeReleased, "", wire.Released{ReclaimID: 12, SKU: "MUG", Released: 3}},
	{wire.TypeCommand, "", wire.OrderCommand{ID: 7, WooOrderID: 1093, Kind: wire.CommandFulfilment,
		Shipment: &wire.Shipment{Carrier: "DHL", TrackingNumber: "JD014600006281230704", TrackingURL: "https://www.dhl.com/track?id=JD014600006281230704",
			ShippedAt: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), Complete: true}}},
	{wire.TypeCommand, "", wire.OrderCommand{ID: 8, WooOrderID: 1093, Kind: wire.CommandERPReference,
		ERP: &wire.ERPReference{System: "netsuite", Reference: "SO-1234"}}},
	{wire.TypeCommand, "", wire.OrderCommand{ID: 9, WooOrderID: 1094, Kind: wire.CommandCancellation, Reason: "customer asked"}},
	{wire.TypeDone, "", wire.CommandDone{ID: 7}},
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

func TestSplitSnapshot(t *testing.T) {
	t.Parallel()
	targets := func(n int, prefix string) map[string]int64 {
		m := make(map[string]int64, n)
		for i := range n {
			m[fmt.Sprintf("%s%06d", prefix, i)] = int64(i)
		}
		return m
	}
	for _, tc := range []struct {
		name             string
		targets          map[string]int64
		maxSKUs, maxByte int
		wantChunks       int
	}{
		{"Empty", map[string]int64{}, 5, 1 << 20, 1},
		{"FitsWhole", targets(5, "SKU-"), 5, 1 << 20, 1},
		{"BySKUCount", targets(12, "SKU-"), 5, 1 << 20, 3},
		// Each target is "SKU-000000":n, about 14 bytes.
		{"ByBytes", targets(12, "SKU-"), 100, 50, 4},
		// encoding/json writes each of <>& as six bytes.
		{"EscapedSKUs", targets(12, "<&>"), 100, 60, 6},
		{"OneTargetOverTheByteBound", targets(2, "SKU-"), 100, 1, 2},
		{"Default100k", targets(100_000, "SKU-"), wire.SnapshotChunkSKUs, wire.SnapshotChunkBytes, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			chunks := wire.SplitSnapshot(44, tc.targets, tc.maxSKUs, tc.maxByte)
			if got, want := len(chunks), tc.wantChunks; got != want {
				t.Fatalf("%d chunks, want %d", got, want)
			}
			seen := map[string]int64{}
			for i, c := range chunks {
				if c.Seq != 44 {
					t.Fatalf("chunk %d at seq %d, want 44", i, c.Seq)
				}
				if len(chunks) == 1 {
					if !c.Whole() || !c.Last() || c.Chunks != 0 {
						t.Fatalf("a snapshot in one chunk is not sent whole: %+v", c)
					}
				} else if c.Chunk != i || c.Chunks != len(chunks) || c.Whole() || c.Last() != (i == len(chunks)-1) {
					t.Fatalf("chunk %d is numbered %d of %d (whole %v, last %v)", i, c.Chunk, c.Chunks, c.Whole(), c.Last())
				}
				if len(c.Targets) > tc.maxSKUs {
					t.Fatalf("chunk %d holds %d targets, over %d", i, len(c.Targets), tc.maxSKUs)
				}
				data, err := json.Marshal(c.Targets)
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Targets) > 1 && len(data) > tc.maxByte+2 { // +2: the braces
					t.Fatalf("chunk %d is %d bytes of targets, over %d", i, len(data), tc.maxByte)
				}
				msg, err := wire.Encode(wire.TypeSnapshot, "", c)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg) > wire.MaxMessageBytes/4 {
					t.Fatalf("chunk %d is a %d-byte message, not far below the %d-byte limit", i, len(msg), wire.MaxMessageBytes)
				}
				for sku, n := range c.Targets {
					if _, dup := seen[sku]; dup {
						t.Fatalf("%s in two chunks", sku)
					}
					seen[sku] = n
				}
			}
			if len(seen) != len(tc.targets) {
				t.Fatalf("chunks hold %d targets, want %d", len(seen), len(tc.targets))
			}
			for sku, n := range tc.targets {
				if seen[sku] != n {
					t.Fatalf("%s=%d in the chunks, want %d", sku, seen[sku], n)
				}
			}
		})
	}
}

func ExampleSplitSnapshot() {
	targets := map[string]int64{"CAP": 3, "MUG": 130, "TEE-RED-L": 4, "TEE-RED-M": 18, "TOTE": 0}
	for _, c := range wire.SplitSnapshot(44, targets, 2, wire.SnapshotChunkBytes) {
		data, _ := wire.Encode(wire.TypeSnapshot, "", c)
		fmt.Println(string(data))
	}
	// Output:
	// {"type":"stock.snapshot","payload":{"seq":44,"targets":{"CAP":3,"MUG":130},"chunks":3}}
	// {"type":"stock.snapshot","payload":{"seq":44,"targets":{"TEE-RED-L":4,"TEE-RED-M":18},"chunk":1,"chunks":3}}
	// {"type":"stock.snapshot","payload":{"seq":44,"targets":{"TOTE":0},"chunk":2,"chunks":3}}
}

func TestParseMarker(t *testing.T) {
	if got := wire.Marker("9f3c", 57); got != "9f3c:57" {
		t.Fatalf("Marker = %q", got)
	}
	for _, tc := range []struct {
		in    string
		epoch string
		seq   int64
		ok    bool
	}{
		{"9f3c:57", "9f3c", 57, true},
		{"9f3c:0", "9f3c", 0, true},
		{"57", "", 0, false},  // written before epochs: no change of any epoch
		{":57", "", 0, false}, // no epoch
		{"9f3c:", "", 0, false},
		{"9f3c:-1", "", 0, false},
		{"9f3c:x", "", 0, false},
		{"", "", 0, false},
	} {
		epoch, seq, ok := wire.ParseMarker(tc.in)
		if epoch != tc.epoch || seq != tc.seq || ok != tc.ok {
			t.Errorf("ParseMarker(%q) = %q, %d, %v; want %q, %d, %v", tc.in, epoch, seq, ok, tc.epoch, tc.seq, tc.ok)
		}
	}
}
