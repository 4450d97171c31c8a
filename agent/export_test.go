package agent

import (
	"context"

	"github.com/stockwire/stockwire/shared/wire"
)

// NewCommandQueue exposes the relay's FIFO of order commands.
func NewCommandQueue() *waiting[wire.OrderCommand] { return newWaiting[wire.OrderCommand]() }

// MaxWaiting exposes the FIFO's bound.
const MaxWaiting = maxWaiting

// Push and Pop expose the FIFO's methods.
func (q *waiting[T]) Push(v T) bool { return q.push(v) }

func (q *waiting[T]) Pop(ctx context.Context) (T, bool) { return q.pop(ctx) }
