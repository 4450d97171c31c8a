// Package backoff computes retry delays: capped exponential growth with full
// jitter, so that many clients failing together do not retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy grows the delay from Min, doubling per attempt, up to Max.
type Policy struct {
	Min, Max time.Duration
}

// Ceiling is the largest delay of the given attempt (0 is the first retry):
// Min·2^attempt, capped at Max.
func (p Policy) Ceiling(attempt int) time.Duration {
	d := max(p.Min, 0)
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(d, max(p.Max, p.Min))
}

// Delay is a random delay in [0, Ceiling(attempt)] ("full jitter").
func (p Policy) Delay(attempt int) time.Duration {
	c := p.Ceiling(attempt)
	if c <= 0 {
		return 0
	}
	return rand.N(c + 1)
}

// Sleep waits d or until ctx ends, returning ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
