package orders_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/agent/orders"
	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/agent/wooclient/wooclienttest"
	"github.com/stockwire/stockwire/shared/systest"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
	"github.com/stockwire/stockwire/shared/woosim"
	"github.com/stockwire/stockwire/shared/woosim/woosimtest"
)

func MustSim(t *testing.T) (*woosim.Server, *wooclient.Client) {
	t.Helper()
	sim := woosimtest.Start(t, woosim.Options{WebhookDelay: time.Hour}, woosim.SeedOptions{Products: 3, Stock: 1_000_000})
	return sim, wooclienttest.New(t, sim)
}

func checkout(t *testing.T, sim *woosim.Server, n int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		id, err := sim.Store.Checkout([]woosim.CheckoutLine{{SKU: "SKU-000001", Quantity: 1}, {SKU: "SKU-000002", Quantity: 2}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// MustPoller returns a poller with the default tunables.
func MustPoller(tb testing.TB, c orders.Lister, ob orders.Outbox, logger *slog.Logger, reg prometheus.Registerer) *orders.Poller {
	tb.Helper()
	p, err := orders.NewPoller(c, ob, logger, reg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestPoller_PollOnce(t *testing.T) {
	t.Parallel()
	sim, c := MustSim(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	box, err := outbox.Open(path, outbox.Options{MaxEvents: 10, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	newPoller := func(b orders.Outbox) *orders.Poller {
		p := MustPoller(t, c, b, logger, reg)
		p.PerPage, p.Lookback = 3, time.Minute
		return p
	}
	p := newPoller(box)
	ctx := t.Context()
	ids := checkout(t, sim, 7)

	t.Run("WebhookBroughtIsNotReported", func(t *testing.T) {
		o, _ := sim.Store.Order(ids[0])
		rep, err := orders.FromWoo(o, orders.SourceWebhook)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := box.Append(ctx, rep); err != nil {
			t.Fatal(err)
		}
		n, err := p.PollOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Fatalf("reported %d, want 6 (7 orders, 1 brought by webhook)", n)
		}
		if got := testutil.ToFloat64(findCounter(t, reg, "stockwire_agent_poll_catchup_total")); got != 6 {
			t.Fatalf("catch-up=%v, want 6", got)
		}
		if n, err := p.PollOnce(ctx); err != nil || n != 0 {
			t.Fatalf("second poll reported %d (%v), want 0", n, err)
		}
	})

	t.Run("StatusChangeReported", func(t *testing.T) {
		if err := sim.Store.SetOrderStatus(ids[3], "completed"); err != nil {
			t.Fatal(err)
		}
		n, err := p.PollOnce(ctx)
		if err != nil || n != 1 {
			t.Fatalf("reported %d (%v), want 1", n, err)
		}
		evs, _ := box.After(0, 100)
		last := evs[len(evs)-1].Order
		if last.WooOrderID != ids[3] || last.Status != "completed" || last.Source != orders.SourcePoll {
			t.Fatalf("last report %+v", last)
		}
	})

	t.Run("CursorHeldWhileOutboxFull", func(t *testing.T) {
		before, ok, _ := box.Cursor(orders.CursorName)
		if !ok {
			t.Fatal("no cursor saved")
		}
		more := checkout(t, sim, 4) // outbox holds 8 of 10
		_, err := p.PollOnce(ctx)
		if !errors.Is(err, outbox.ErrOutboxFull) {
			t.Fatalf("err=%v, want ErrOutboxFull", err)
		}
		if after, _, _ := box.Cursor(orders.CursorName); !after.Equal(before) {
			t.Fatalf("cursor moved from %v to %v although appends failed", before, after)
		}
		evs, _ := box.After(0, 100)
		for _, ev := range evs {
			box.Ack(ev.ID)
		}
		n, err := p.PollOnce(ctx)
		if err != nil || n != 2 {
			t.Fatalf("after drain reported %d (%v), want the 2 left of %v", n, err, more)
		}
	})

	t.Run("RestartRemembers", func(t *testing.T) {
		box.Close()
		box2, err := outbox.Open(path, outbox.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		defer box2.Close()
		p2 := MustPoller(t, c, box2, logger, nil)
		if n, err := p2.PollOnce(ctx); err != nil || n != 0 {
			t.Fatalf("after restart reported %d (%v), want 0", n, err)
		}
	})
}

func TestPoller_FirstStartLookback(t *testing.T) {
	t.Parallel()
	sim, c := MustSim(t)
	checkout(t, sim, 2)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	box, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	// Orders older than the lookback are not reported on a new data dir.
	later := time.Now().Add(time.Hour)
	p := MustPoller(t, c, box, logger, nil)
	p.Lookback, p.Now = time.Minute, func() time.Time { return later }
	if n, err := p.PollOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("reported %d (%v), want 0 outside the lookback", n, err)
	}
	// Within the lookback they are.
	box2, err := outbox.Open(filepath.Join(t.TempDir(), "o2.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer box2.Close()
	p2 := MustPoller(t, c, box2, logger, nil)
	p2.Lookback = time.Minute
	if n, err := p2.PollOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("reported %d (%v), want 2", n, err)
	}
	if _, ok, _ := box2.Cursor(orders.CursorName); !ok {
		t.Fatal("cursor not saved")
	}
}

// pageHook lets a test change the store between two pages of a poll.
type pageHook struct {
	orders.Lister
	calls     int
	afterCall map[int]func()
}

func (h *pageHook) ListOrders(ctx context.Context, q wooclient.OrderQuery) ([]woo.Order, wooclient.Page, error) {
	list, pg, err := h.Lister.ListOrders(ctx, q)
	h.calls++
	if f := h.afterCall[h.calls]; f != nil {
		f()
	}
	return list, pg, err
}

// TestPoller_OrderModifiedWhilePaging: twelve orders share one second, so
// the poller pages by number; an order on the first page is modified (it
// moves to the end of the list) before the second page is read, which
// shifts an unread order onto the page already read. The poll must still
// report every order although the skipped one is older than the overlap.
func TestPoller_OrderModifiedWhilePaging(t *testing.T) {
	t.Parallel()
	second := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	var clock atomic.Int64
	clock.Store(second.UnixNano())
	sim := woosimtest.Start(t, woosim.Options{WebhookDelay: time.Hour, Now: func() time.Time {
		return time.Unix(0, clock.Add(int64(time.Millisecond)))
	}}, woosim.SeedOptions{Products: 2, Stock: 1_000_000})
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	c := wooclienttest.New(t, sim)
	ids := checkout(t, sim, 12)
	box, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	// Call 1 reads from the lookback and restarts just before second S;
	// call 2 is page 1 of the query the poller then pages by number.
	lister := &pageHook{Lister: c, afterCall: map[int]func(){2: func() {
		clock.Store(second.Add(5 * time.Second).UnixNano())
		if err := sim.Store.SetOrderStatus(ids[0], "completed"); err != nil {
			t.Error(err)
		}
	}}}
	p := MustPoller(t, lister, box, logger, nil)
	p.PerPage, p.Overlap, p.Lookback = 3, time.Second, time.Minute
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A second poll starts one overlap before the newest order: only the
	// first poll can find the skipped one.
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs, err := box.After(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	for _, ev := range evs {
		got[ev.Order.WooOrderID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("order %d never reported (reports: %d)", id, len(evs))
		}
	}
	if seen, _ := box.Seen(ids[0]); seen.Status != "completed" {
		t.Errorf("order %d reported as %q, want its new status completed", ids[0], seen.Status)
	}
}

// queryLog records what each ListOrders query asked and how many orders
// it got.
type queryLog struct {
	orders.Lister
	mu      sync.Mutex
	after   time.Time
	results int
}

func (l *queryLog) ListOrders(ctx context.Context, q wooclient.OrderQuery) ([]woo.Order, wooclient.Page, error) {
	list, pg, err := l.Lister.ListOrders(ctx, q)
	l.mu.Lock()
	l.after, l.results = q.ModifiedAfter, len(list)
	l.mu.Unlock()
	return list, pg, err
}

// TestPoller_IdlePollStartsFromStoreClock: once the store's clock has moved
// past its last orders, a poll no longer reads them again, and an order
// taken afterwards is still reported.
func TestPoller_IdlePollStartsFromStoreClock(t *testing.T) {
	t.Parallel()
	t0 := time.Now().Truncate(time.Second)
	var clock atomic.Int64 // the store's
	clock.Store(t0.UnixNano())
	sim := woosimtest.Start(t, woosim.Options{WebhookDelay: time.Hour, Now: func() time.Time { return time.Unix(0, clock.Load()) }},
		woosim.SeedOptions{Products: 3, Stock: 1_000_000})
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	box, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	log := &queryLog{Lister: wooclienttest.New(t, sim)}
	p := MustPoller(t, log, box, logger, nil)
	poll := func(want int) {
		t.Helper()
		if n, err := p.PollOnce(t.Context()); err != nil || n != want {
			t.Fatalf("poll reported %d (%v), want %d", n, err, want)
		}
	}
	checkout(t, sim, 2)
	poll(2)
	clock.Add(int64(30 * time.Second))
	poll(0) // reads the two orders again, and learns the store's clock
	poll(0)
	if !log.after.After(t0) || log.results != 0 {
		t.Fatalf("idle poll asked for orders modified after %s and got %d, want none, after the orders of %s",
			log.after.UTC().Format(time.RFC3339), log.results, t0.UTC().Format(time.RFC3339))
	}
	checkout(t, sim, 1)
	poll(1)
}

func TestNewPoller_Invalid(t *testing.T) {
	t.Parallel()
	_, c := MustSim(t)
	if _, err := orders.NewPoller(c, nil, nil, nil); err == nil {
		t.Fatal("want an error without an outbox")
	}
	if _, err := orders.NewPoller(nil, nil, nil, nil); err == nil {
		t.Fatal("want an error without a client")
	}
}

// An order the poll finds before its webhook is counted, not logged: a
// webhook a second late is normal. One whose webhook has not come
// WebhookLate later is passed to OnWebhookLate, once; one whose webhook
// still has not come WebhookWindow later is logged, once, as a warning.
func TestPoller_WebhookWindow(t *testing.T) {
	t.Parallel()
	sim, c := MustSim(t)
	var logs systest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	box, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	reg := prometheus.NewRegistry()
	p := MustPoller(t, c, box, logger, reg)
	var now atomic.Int64 // the poller's clock, UnixNano
	now.Store(time.Now().Add(-time.Second).UnixNano())
	p.Now = func() time.Time { return time.Unix(0, now.Load()) }
	p.WebhookWindow, p.WebhookLate = 5*time.Minute, 10*time.Second
	var missed, lates []int64 // owned by the test goroutine: PollOnce calls back on it
	p.OnMissedWebhook = func(id int64) { missed = append(missed, id) }
	p.OnWebhookLate = func(id int64) { lates = append(lates, id) }
	ctx := t.Context()
	if _, err := p.PollOnce(ctx); err != nil { // the poller starts
		t.Fatal(err)
	}

	ids := checkout(t, sim, 4)
	late, never, never2, racing := ids[0], ids[1], ids[2], ids[3]
	// racing's webhook lands while the poll reports it: before the poll
	// records that it waits for it.
	p.WebhookDelivered(wire.Order{WooOrderID: racing, DateModified: time.Now().Add(time.Hour)})
	if n, err := p.PollOnce(ctx); err != nil || n != 4 {
		t.Fatalf("PollOnce=%d, %v; want 4 orders reported", n, err)
	}
	if got := testutil.ToFloat64(findCounter(t, reg, "stockwire_agent_poll_catchup_total")); got != 4 {
		t.Fatalf("catch-up=%v, want 4", got)
	}
	if strings.Contains(logs.String(), "poll found unreported order") {
		t.Fatalf("an order found by the poll is logged at info:\n%s", logs.String())
	}
	// late's webhook comes after the poll.
	evs, err := box.After(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Order.WooOrderID == late {
			p.WebhookDelivered(ev.Order)
		}
	}

	// WebhookLate later, each webhook still awaited is late, once.
	now.Add(int64(p.WebhookLate - time.Second))
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(lates) != 0 {
		t.Fatalf("late %v before WebhookLate, want none", lates)
	}
	now.Add(int64(time.Second))
	for range 2 {
		if _, err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fmt.Sprint(lates), fmt.Sprint([]int64{never, never2}); got != want {
		t.Fatalf("late webhooks %s, want %s", got, want)
	}

	now.Add(int64(p.WebhookWindow - p.WebhookLate - time.Second))
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(missed) != 0 {
		t.Fatalf("missed %v before the window ended, want none", missed)
	}
	now.Add(int64(time.Second))
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(missed), fmt.Sprint([]int64{never, never2}); got != want {
		t.Fatalf("missed webhooks %s, want %s", got, want)
	}
	if got := testutil.ToFloat64(findCounter(t, reg, "stockwire_agent_poll_webhooks_missed_total")); got != 2 {
		t.Fatalf("webhooks missed=%v, want 2", got)
	}
	// One line for both.
	want := fmt.Sprintf(`level=WARN msg="no webhook came for orders the poll found" orders=2 order_ids="[%d %d]"`, never, never2)
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Fatalf("%d warnings %q, want 1:\n%s", n, want, logs.String())
	}
	if _, err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(missed) != 2 {
		t.Fatalf("missed %v after one more poll, want the one warning only", missed)
	}

	t.Run("NoWindowNoWait", func(t *testing.T) {
		q := MustPoller(t, c, box, logger, nil)
		q.Now = p.Now
		checkout(t, sim, 1)
		q.OnMissedWebhook = func(id int64) { t.Errorf("webhook of %d missed with no window", id) }
		if _, err := q.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(time.Hour))
		if _, err := q.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
