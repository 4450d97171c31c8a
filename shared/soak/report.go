package soak

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Print writes the soak's table: the stores, the chaos, the samples and
// the checks.
func (r *Result) Print(out io.Writer) {
	c := r.Config
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	var orders, units int64
	for _, st := range r.Stores {
		orders += st.Orders
		units += st.Units
	}
	fmt.Fprintf(w, "soak: %s selling, %d mirror + %d allocate stores, %d hub replicas, %d SKUs; %d orders (%.0f/s), %d units\n",
		r.Selling.Round(time.Second), c.Mirror, c.Allocate, c.Replicas, c.SKUs, orders, float64(orders)/r.Selling.Seconds(), units)
	fmt.Fprintf(w, "faults: %.0f%% of webhooks dropped, %.0f%% of requests 5xx, %.0f%% 429 with Retry-After; agents killed every %s each, a replica every %s, PostgreSQL crashed at %s for %s; a hand edit every %s, a status change every %s\n\n",
		100*c.Faults.DropWebhookRate, 100*c.Faults.ErrorRate, 100*c.Faults.RateLimitRate, c.AgentKillEvery, c.ReplicaKillEvery,
		c.PostgresCrashAt, c.PostgresDown, c.EditEvery, c.StatusEvery)

	fmt.Fprintln(w, "store\tpolicy\torders\tunits\trefused (out of stock)\thand edits\tcompleted\tcancelled\trefunded\tagent kills\twebhooks dropped\trequests failed (5xx/429)\toutbox\tdead letters")
	for _, st := range r.Stores {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", st.Name, st.Policy, st.Orders, st.Units, st.Refused,
			st.Edits, st.Completed, st.Cancelled, st.Refunded, st.AgentKills, st.WebhooksDropped, st.RequestsFaulted, st.OutboxEvents, st.DeadLetters)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "minute\torders so far\treplica-0 RSS\treplica-0 goroutines\tstore-0 agent RSS\tstore-0 agent goroutines")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%s\t%d\n", s.At.Round(time.Second), s.Orders, mb(s.HubRSS), s.HubGoroutines, mb(s.AgentRSS), s.AgentGoroutines)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "chaos: %d replica kills, %d PostgreSQL crashes, %d ERP receipts; restarts slower than a minute: %d\n\n",
		r.ReplicaKills, r.PostgresCrashes, r.Receipts, len(r.SlowRestarts))

	converged := "never"
	if r.ConvergedIn >= 0 {
		converged = r.ConvergedIn.Round(10 * time.Millisecond).String()
	}
	fmt.Fprintln(w, "check\tfound\tbar")
	fmt.Fprintf(w, "orders lost (store orders not in the hub's feed)\t%d of %d\t0\n", r.Lost, r.OrdersInStores)
	fmt.Fprintf(w, "orders counted twice / unknown to the stores\t%d / %d\t0\n", r.Doubled, r.Unknown)
	fmt.Fprintf(w, "hub orders with another status, stock state or units\t%d\t0\n", r.WrongState)
	fmt.Fprintf(w, "every store shows the hub's figures, the hub every order\t%s after the traffic stopped\t≤ %s\n", converged, c.ConvergeWithin)
	fmt.Fprintf(w, "units the allocate stores sold beyond their grants\t%d\t0\n", r.AllocOversold)
	fmt.Fprintf(w, "events in the agents' outboxes / dead letters\t%d / %d\t0\n", r.OutboxEvents, r.DeadLetters)
	fmt.Fprintf(w, "processes that exited on their own\t%d\t0\n", len(r.UnexpectedExits))
	for _, g := range r.Growth {
		fmt.Fprintf(w, "growth: %s\t\t\n", g)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "\nPASS")
		return
	}
	fmt.Fprintln(w, "\nFAIL")
	for _, f := range r.Failures {
		fmt.Fprintln(w, "- "+f)
	}
}

func mb(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}
