package outbox_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent/outbox"
)

// BenchmarkOutbox_Append measures durable (fsynced) appends.
func BenchmarkOutbox_Append(b *testing.B) {
	o := MustOpen(b, filepath.Join(b.TempDir(), "o.db"), outbox.Options{MaxEvents: 1 << 30, Logger: slog.New(slog.DiscardHandler)})
	ord := order(1, "processing", time.Now().UTC())
	start := time.Now()
	i := int64(0)
	for b.Loop() {
		i++
		ord.WooOrderID = i
		if _, err := o.Append(b.Context(), ord); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkOutbox_DrainAck measures reading and acknowledging in pages of 100.
func BenchmarkOutbox_DrainAck(b *testing.B) {
	o := MustOpen(b, filepath.Join(b.TempDir(), "o.db"), outbox.Options{MaxEvents: 1 << 30, Logger: slog.New(slog.DiscardHandler)})
	ord := order(1, "processing", time.Now().UTC())
	for b.Loop() {
		b.StopTimer()
		for i := range 100 {
			ord.WooOrderID = int64(i)
			if _, err := o.Append(b.Context(), ord); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		evs, err := o.After(0, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			if err := o.Ack(ev.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
}
