package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/stockwire/stockwire/shared/backoff"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	p := backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Ceiling(i); got != w*time.Millisecond {
			t.Errorf("Ceiling(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := p.Ceiling(1000); got != time.Second {
		t.Errorf("Ceiling(1000) = %v, want the cap", got)
	}
}

func TestDelayStaysWithinCeilingAndSpreads(t *testing.T) {
	p := backoff.Policy{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt := range 6 {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Delay(attempt)
			if d < 0 || d > p.Ceiling(attempt) {
				t.Fatalf("Delay(%d) = %v, outside [0, %v]", attempt, d, p.Ceiling(attempt))
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("Delay(%d) took only %d distinct values in 200 draws: no jitter", attempt, len(seen))
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}
