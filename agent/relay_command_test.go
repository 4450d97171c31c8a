package agent_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
)

// scriptedCommander fails each command as scripted (failures[id] transient
// failures first, refused when refuse[id]) and counts what it applied.
type scriptedCommander struct {
	mu       sync.Mutex
	failures map[int64]int
	refuse   map[int64]bool
	applied  []int64
}

func (c *scriptedCommander) ApplyCommand(_ context.Context, cmd wire.OrderCommand) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse[cmd.ID] {
		return fmt.Errorf("order %d: %w", cmd.WooOrderID, agent.ErrCommandRefused)
	}
	if c.failures[cmd.ID] > 0 {
		c.failures[cmd.ID]--
		return errors.New("store answered 503")
	}
	c.applied = append(c.applied, cmd.ID)
	return nil
}

func TestRelay_OrderCommandsAnswered(t *testing.T) {
	t.Parallel()
	cmd := &scriptedCommander{failures: map[int64]int{2: 1}, refuse: map[int64]bool{3: true}}
	r := agent.NewRelay(mustOutbox(t), &snapshotWriter{}, slog.New(slog.NewTextHandler(t.Output(), nil)), "test")
	r.Commander = cmd
	ctx, cancel := context.WithCancel(t.Context())
	var hub sent
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Session(ctx, &hub)
	}()
	t.Cleanup(func() { cancel(); <-done })

	for id := int64(1); id <= 3; id++ {
		r.Handle(ctx, envelope(t, wire.TypeCommand, "", wire.OrderCommand{ID: id, WooOrderID: 100 + id, Kind: wire.CommandCancellation}))
	}
	systest.WaitFor(t, 10*time.Second, "three answers", func() error {
		if got := hub.commandsDone(); len(got) < 3 {
			return fmt.Errorf("answers %+v", got)
		}
		return nil
	})
	got := hub.commandsDone()
	if got[0] != (wire.CommandDone{ID: 1}) || got[1] != (wire.CommandDone{ID: 2}) {
		t.Fatalf("answers %+v, want 1 and 2 applied, in order (2 after a retry)", got)
	}
	if got[2].ID != 3 || !strings.Contains(got[2].Error, agent.ErrCommandRefused.Error()) {
		t.Fatalf("answer %+v, want 3 refused with the store's error", got[2])
	}
	cmd.mu.Lock()
	defer cmd.mu.Unlock()
	if fmt.Sprint(cmd.applied) != "[1 2]" {
		t.Fatalf("applied %v, want [1 2]", cmd.applied)
	}
}
