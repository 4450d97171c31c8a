package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/shared/hubapi"
	"github.com/stockwire/stockwire/shared/scrape"
)

// report prints one line per store every two seconds until ctx ends.
func (d *demo) report(ctx context.Context, t *traffic) {
	feed := newFeedFollower(d)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lines, err := d.summary(ctx, t, feed)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Println("hub:", err)
			}
			continue
		}
		fmt.Print("\n" + time.Now().Format("15:04:05") + "\n" + lines)
	}
}

// storeSample is what one report read of one store and its agent.
type storeSample struct {
	agent hubapi.AgentState
	// appliedSeq and outboxEvents are the agent's live figures, read from
	// its metrics listener just before the store's stock; liveOK is false
	// when that failed (the agent is down), and the hub's copy is shown
	// instead.
	appliedSeq, outboxEvents int64
	liveOK                   bool
	// stock is the store's figure per SKU.
	stock map[string]int64
	// pending are the store's orders whose WooCommerce status the hub had
	// not seen at the first read of its order feed, by WooCommerce id.
	pending map[int64]pendingOrder
}

// pendingOrder is an order whose status the hub had not seen.
type pendingOrder struct {
	demoOrder
	// seenBefore is the status the hub had seen at the first read of its
	// feed ("" for none).
	seenBefore string
}

// summary reads the hub, the stores and the agents and returns one line per
// store. Under traffic nothing can be read at one instant, so the reads are
// ordered to bracket the moment the stores' stock is read: the hub's order
// feed and targets first, then its head sequences and the agents' live
// applied sequences (an agent that had applied the head then shows at least
// every change those targets hold), then the stock, then the targets and the
// feed again. A SKU reads in sync when its figure lies between what the
// hub's figures before and after say it should show, once the store's own
// orders the hub had not yet seen in their status are allowed for.
func (d *demo) summary(ctx context.Context, t *traffic, feed *feedFollower) (string, error) {
	if err := feed.follow(ctx); err != nil {
		return "", err
	}
	targetsBefore, err := d.targets(ctx)
	if err != nil {
		return "", err
	}
	var list hubapi.StoreList
	if err := d.api(ctx, http.MethodGet, "/api/v1/stores", nil, &list); err != nil {
		return "", err
	}
	samples := make([]storeSample, len(d.stores))
	for i, st := range d.stores {
		s := &samples[i]
		for _, hs := range list.Stores {
			if hs.ID == st.id {
				s.agent = hs.Agent
			}
		}
		s.appliedSeq, s.outboxEvents, s.liveOK = agentLiveFigures(ctx, st.metricsListen)
	}

	t.mu.Lock()
	for i, st := range d.stores {
		s := &samples[i]
		s.stock = make(map[string]int64, len(d.skus))
		for _, sku := range d.skus {
			s.stock[sku], _ = st.sim.Store.StockBySKU(sku)
		}
		s.pending = map[int64]pendingOrder{}
		for id, o := range t.orders[i] {
			switch seen := feed.seen[orderKey{st.id, id}]; {
			case seen != o.status():
				s.pending[id] = pendingOrder{demoOrder: *o, seenBefore: seen}
			case o.cancelled || !slices.Contains(t.recent[i], id):
				// The hub has seen its last status: the order moves no
				// figure any more.
				delete(t.orders[i], id)
			}
		}
	}
	feed.forget(func(k orderKey) bool {
		i := slices.IndexFunc(d.stores, func(st *demoStore) bool { return st.id == k.storeID })
		return i < 0 || t.orders[i][k.wooOrderID] == nil
	})
	t.mu.Unlock()

	targetsAfter, err := d.targets(ctx)
	if err != nil {
		return "", err
	}
	if err := feed.follow(ctx); err != nil {
		return "", err
	}

	var b strings.Builder
	for i, st := range d.stores {
		s := &samples[i]
		link := "down"
		if s.agent.Connected {
			link = "up"
		}
		// Lag: the hub's head less what the agent had applied a moment
		// later, both live. The hub's own seq_lag uses the agent's
		// once-a-second report, which trails a store under traffic.
		lag, outbox := s.agent.SeqLag, int64(s.agent.OutboxDepth)
		if s.liveOK {
			lag, outbox = max(0, s.agent.HeadSeq-s.appliedSeq), s.outboxEvents
		}
		id := strconv.FormatInt(st.id, 10)
		var check syncCheck
		for _, sku := range d.skus {
			before := expectedFigure(targetsBefore[sku][id], sku, s.pending, func(_ int64, o pendingOrder) string { return o.seenBefore })
			after := expectedFigure(targetsAfter[sku][id], sku, s.pending, func(wooID int64, _ pendingOrder) string {
				return feed.seen[orderKey{st.id, wooID}]
			})
			check.add(sku, s.stock[sku], before, after, lag > 0)
		}
		stats := &t.stats[i]
		fmt.Fprintf(&b, "  %-10s %-8s link %-4s lag %-3d outbox %-3d dead letters %-2d webhooks %-8s sold %-5d refused %-4d cancelled %-4d hand-edits %-3d %s\n",
			st.name, st.policy, link, lag, outbox, s.agent.DeadLetters, orNotReported(s.agent.WebhookHealth),
			stats.sold.Load(), stats.refused.Load(), stats.cancelled.Load(), stats.edits.Load(), check.verdict(len(d.skus)))
	}
	return b.String(), nil
}

// orNotReported shows an agent's webhook health, "-" when it reported none.
func orNotReported(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// syncCheck tallies one store's SKUs against what they should show.
type syncCheck struct {
	inSync, settling int
	// off lists the SKUs off by more than what is in flight, with the
	// difference (store − expected).
	off []string
}

// add checks one SKU: its store figure got, and what it should show by the
// hub's figures read before and after it. behind says the agent had not
// applied every change of the hub: a figure off then may still be on its
// way, by an amount the demo cannot know.
func (c *syncCheck) add(sku string, got, before, after int64, behind bool) {
	lo, hi := min(before, after), max(before, after)
	switch {
	case got >= lo && got <= hi:
		c.inSync++
	case behind:
		c.settling++
	default:
		diff := got - hi
		if got < lo {
			diff = got - lo
		}
		c.off = append(c.off, fmt.Sprintf("%s %+d", sku, diff))
	}
}

// verdict is the check's summary for n SKUs.
func (c *syncCheck) verdict(n int) string {
	v := fmt.Sprintf("in sync %d/%d SKUs", c.inSync, n)
	if c.settling > 0 {
		v += fmt.Sprintf(", %d settling (hub changes not applied yet)", c.settling)
	}
	if len(c.off) > 0 {
		v += ", OUT OF SYNC: " + strings.Join(c.off, ", ")
	}
	return v
}

// expectedFigure is what a store should show for sku when the hub's target
// for it is target: its own pending orders (by WooCommerce id) move it by
// what the hub had not seen of them, seen giving the status the hub had
// seen of each ("" for none).
func expectedFigure(target int64, sku string, pending map[int64]pendingOrder, seen func(wooID int64, o pendingOrder) string) int64 {
	for wooID, o := range pending {
		if o.sku == sku {
			target += shelfEffect(o.status(), o.quantity) - shelfEffect(seen(wooID, o), o.quantity)
		}
	}
	return target
}

// shelfEffect is how far an order in status moves its store's figure
// from the hub's target: WooCommerce took its units off the shelf at
// checkout and put them back when it was cancelled, while the hub counts an
// order only in the status it has seen (processing: sold; cancelled, or
// never seen: not), and its changes to the selling store leave out what
// the store did itself.
func shelfEffect(status string, quantity int64) int64 {
	if status == "processing" {
		return -quantity
	}
	return 0
}

// status is the order's WooCommerce status.
func (o demoOrder) status() string {
	if o.cancelled {
		return "cancelled"
	}
	return "processing"
}

// targets reads every SKU's per-store targets: SKU → store ID → units.
func (d *demo) targets(ctx context.Context) (map[string]map[string]int64, error) {
	out := make(map[string]map[string]int64, len(d.skus))
	for _, sku := range d.skus {
		var s hubapi.SKUStock
		if err := d.api(ctx, http.MethodGet, "/api/v1/skus/"+sku, nil, &s); err != nil {
			return nil, err
		}
		out[sku] = s.Targets
	}
	return out, nil
}

// orderKey names an order the way the hub's feed does.
type orderKey struct {
	storeID, wooOrderID int64
}

// feedFollower reads the hub's order feed (GET /api/v1/orders) to its end
// and keeps the WooCommerce status the hub has last seen of every order.
// Owned by the report goroutine.
type feedFollower struct {
	d      *demo
	cursor string
	seen   map[orderKey]string // WooCommerce status by order
}

func newFeedFollower(d *demo) *feedFollower {
	return &feedFollower{d: d, seen: map[orderKey]string{}}
}

// follow reads the feed from where it last stopped to its end.
func (f *feedFollower) follow(ctx context.Context) error {
	const page = 1000
	for {
		var l hubapi.OrderList
		if err := f.d.api(ctx, http.MethodGet, "/api/v1/orders?limit="+strconv.Itoa(page)+"&after="+f.cursor, nil, &l); err != nil {
			return fmt.Errorf("read the order feed: %w", err)
		}
		for _, o := range l.Orders {
			f.seen[orderKey{o.StoreID, o.WooOrderID}] = o.Status
		}
		if l.Next != "" {
			f.cursor = l.Next
		}
		if len(l.Orders) < page {
			return nil
		}
	}
}

// forget drops what the hub has seen of the orders untracked says the demo
// no longer tracks (the hub's feed shows an order again whenever the ERP
// ships it), so that the map stays as small as the orders in flight.
func (f *feedFollower) forget(untracked func(orderKey) bool) {
	maps.DeleteFunc(f.seen, func(k orderKey, _ string) bool { return untracked(k) })
}

// agentLiveFigures reads an agent's applied sequence and outbox depth from
// its metrics listener; ok is false when it could not.
func agentLiveFigures(ctx context.Context, metricsListen string) (appliedSeq, outboxEvents int64, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	page, err := scrape.Get(ctx, nil, "http://"+metricsListen+"/metrics")
	if err != nil {
		return 0, 0, false
	}
	applied, haveApplied := page.Sum("stockwire_agent_stock_applied_seq")
	events, haveOutbox := page.Sum("stockwire_agent_outbox_events")
	return int64(applied), int64(events), haveApplied && haveOutbox
}
