package console

import (
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

func TestAvailableChart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	entries := []hub.LedgerEntry{
		{Quantity: "on_hand", Before: 0, After: 10, CreatedAt: now.Add(-18 * time.Hour)},    // 0 → 10
		{Quantity: "committed", Before: 0, After: 4, CreatedAt: now.Add(-12 * time.Hour)},   // 10 → 6
		{Quantity: "safety_stock", Before: 0, After: 1, CreatedAt: now.Add(-6 * time.Hour)}, // 6 → 5
	}
	c := availableChart(5, entries, now)
	if c.Min != 0 || c.Max != 10 || c.Changes != 3 {
		t.Fatalf("Min=%d Max=%d Changes=%d, want 0, 10, 3", c.Min, c.Max, c.Changes)
	}
	// Steps at 6 h, 12 h and 18 h of 24, on a 4 px padded 480 × 120 box:
	// x = 4 + 472·t/24h, y = 116 − ⌊112·v/10⌋.
	want := "4,116 122,116 122,4 240,4 240,49 358,49 358,60 476,60 476,60"
	if got := c.Points; got != want {
		t.Fatalf("Points=%q\nwant    %q", got, want)
	}
	if flat := availableChart(7, nil, now); strings.Count(flat.Points, " ") != 2 || flat.Min != 0 || flat.Max != 7 {
		t.Fatalf("no history: %+v, want a flat line from 0 to 7's scale", flat)
	}
}

func TestBehind(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	old := now.Add(-150 * time.Second)
	for _, c := range []struct {
		lag    int64
		oldest *time.Time
		want   string
	}{
		{0, nil, "up to date"},
		{1, &old, "1 change behind, oldest 2m old"},
		{42, &old, "42 changes behind, oldest 2m old"},
		{3, nil, "3 changes behind"},
	} {
		if got := behind(c.lag, c.oldest, now); got != c.want {
			t.Errorf("behind(%d)=%q, want %q", c.lag, got, c.want)
		}
	}
}
