package postgres_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/postgres"
)

func TestStoreService_CreateAuthRevoke(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	e.MustCount(t, "A1", "main", 10)
	st, cred, err := e.stores.Create(ctx, hub.NewStore{Name: "eu", URL: "https://eu.example", Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cred, "swa_") || st.Policy != hub.PolicyMirror || st.Status != hub.StoreActive {
		t.Fatalf("store=%+v cred prefix %q", st, cred[:4])
	}
	// New store: targets for every SKU, no events, head 0.
	head, targets, err := e.events.Snapshot(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if head != 0 || targets["A1"] != 9 {
		t.Fatalf("head=%d targets=%v", head, targets)
	}

	t.Run("CredentialStoredHashed", func(t *testing.T) {
		db, err := sql.Open("postgres", e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM store_credentials WHERE token_hash = $1`, cred).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("credential stored in clear")
		}
	})
	t.Run("Authenticate", func(t *testing.T) {
		got, err := e.stores.AuthenticateAgent(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != st.ID {
			t.Fatalf("ID=%d, want %d", got.ID, st.ID)
		}
		_, err = e.stores.AuthenticateAgent(ctx, cred+"x")
		wantCode(t, err, hub.EUNAUTHORIZED)
		_, err = e.stores.AuthenticateAgent(ctx, "")
		wantCode(t, err, hub.EUNAUTHORIZED)
	})
	t.Run("ErrConflict", func(t *testing.T) {
		_, _, err := e.stores.Create(ctx, hub.NewStore{Name: "eu", URL: "https://other.example"})
		wantCode(t, err, hub.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, ns := range []hub.NewStore{
			{Name: "", URL: "https://x.example"},
			{Name: "x", URL: "ftp://x.example"},
			{Name: "x", URL: "https://x.example", Policy: "bogus"},
			{Name: "x", URL: "https://x.example", Buffer: -1},
		} {
			_, _, err := e.stores.Create(ctx, ns)
			wantCode(t, err, hub.EINVALID)
		}
		all, err := e.stores.Stores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 {
			t.Fatalf("%d stores, want 1", len(all))
		}
	})
	t.Run("ConfigureMovesTargets", func(t *testing.T) {
		svc := postgres.NewAllocationService(e.db)
		up, err := svc.Configure(ctx, st.ID, hub.StoreSettings{Policy: hub.PolicyMirror, Buffer: 4, Allocation: st.Allocation})
		if err != nil {
			t.Fatal(err)
		}
		if up.Buffer != 4 {
			t.Fatalf("Buffer=%d", up.Buffer)
		}
		ev := e.MustEvents(t, st.ID)
		if len(ev) != 1 || ev[0].Delta != -3 || ev[0].Target != 6 {
			t.Fatalf("events=%+v", ev)
		}
		_, err = svc.Configure(ctx, 999, hub.StoreSettings{Policy: hub.PolicyMirror, Allocation: st.Allocation})
		wantCode(t, err, hub.ENOTFOUND)
	})
	t.Run("AgentState", func(t *testing.T) {
		now := time.Now().UTC().Truncate(time.Second)
		e.MustAgentState(t, st.ID, hub.AgentState{Connected: true, LastSeen: &now, AppliedSeq: 0, OutboxDepth: 3,
			DeadLetters: 2, WebhookHealth: hub.WebhookHealthFailing, Replica: "r1"})
		got, err := e.stores.Store(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		a := got.Agent
		if !a.Connected || a.LastSeen == nil || !a.LastSeen.Equal(now) || a.OutboxDepth != 3 || a.Replica != "r1" || a.HeadSeq != 1 || a.SeqLag != 1 {
			t.Fatalf("agent=%+v", a)
		}
		if got, want := a.DeadLetters, 2; got != want {
			t.Fatalf("DeadLetters=%d, want %d", got, want)
		}
		if got, want := a.WebhookHealth, hub.WebhookHealthFailing; got != want {
			t.Fatalf("WebhookHealth=%q, want %q", got, want)
		}
		list, err := e.stores.Stores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(s hub.Store) bool { return s.ID == st.ID })
		if i < 0 || list[i].Agent.DeadLetters != 2 || list[i].Agent.WebhookHealth != hub.WebhookHealthFailing {
			t.Fatalf("Stores lists %+v", list)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		if err := e.stores.Revoke(ctx, st.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.stores.AuthenticateAgent(ctx, cred)
		wantCode(t, err, hub.EUNAUTHORIZED)
		got, err := e.stores.Store(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != hub.StoreRevoked {
			t.Fatalf("Status=%v", got.Status)
		}
		wantCode(t, e.stores.Revoke(ctx, 999), hub.ENOTFOUND)
		// A revoked store gets no more events.
		before := len(e.MustEvents(t, st.ID))
		e.MustCount(t, "A1", "main", 20)
		if after := len(e.MustEvents(t, st.ID)); after != before {
			t.Fatalf("revoked store got %d new events", after-before)
		}
	})
}

func TestStoreService_Enrol(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	tok, exp, err := e.stores.CreateEnrolmentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "swj_") || time.Until(exp) < 59*time.Minute {
		t.Fatalf("token prefix %q expires %v", tok[:4], exp)
	}
	ns := hub.NewStore{Name: "us", URL: "https://us.example", Policy: hub.PolicyMirror}

	// Bad input and a taken name leave the token unspent.
	_, _, err = e.stores.Enrol(ctx, tok, hub.NewStore{Name: "us", URL: "nope"})
	wantCode(t, err, hub.EINVALID)
	e.MustStore(t, "taken", 0)
	_, _, err = e.stores.Enrol(ctx, tok, hub.NewStore{Name: "taken", URL: "https://us.example"})
	wantCode(t, err, hub.ECONFLICT)

	st, cred, err := e.stores.Enrol(ctx, tok, ns)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.stores.AuthenticateAgent(ctx, cred); err != nil || got.ID != st.ID {
		t.Fatalf("authenticate: %v %+v", err, got)
	}
	_, _, err = e.stores.Enrol(ctx, tok, hub.NewStore{Name: "us2", URL: "https://us.example"})
	wantCode(t, err, hub.EUNAUTHORIZED) // used
	_, _, err = e.stores.Enrol(ctx, "swj_bogus", hub.NewStore{Name: "us3", URL: "https://us.example"})
	wantCode(t, err, hub.EUNAUTHORIZED)

	short, exp, err := e.stores.CreateEnrolmentToken(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for !time.Now().After(exp.Add(time.Millisecond)) { // same clock: poll past expiry
	}
	_, _, err = e.stores.Enrol(ctx, short, hub.NewStore{Name: "late", URL: "https://late.example"})
	wantCode(t, err, hub.EUNAUTHORIZED)
	_, _, err = e.stores.CreateEnrolmentToken(ctx, 0)
	wantCode(t, err, hub.EINVALID)
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	wantCode(t, e.admin.CheckAdminToken(ctx, "anything"), hub.EUNAUTHORIZED)
	gen, err := e.admin.Ensure(ctx, "")
	if err != nil || gen == "" {
		t.Fatalf("Ensure generated %q, %v", gen, err)
	}
	if err := e.admin.CheckAdminToken(ctx, gen); err != nil {
		t.Fatal(err)
	}
	if again, err := e.admin.Ensure(ctx, ""); err != nil || again != "" {
		t.Fatalf("second Ensure=%q, %v; want nothing new", again, err)
	}
	if _, err := e.admin.Ensure(ctx, "my-own-admin-token-123"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.admin.CheckAdminToken(ctx, gen), hub.EUNAUTHORIZED)
	if err := e.admin.CheckAdminToken(ctx, "my-own-admin-token-123"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.admin.CheckAdminToken(ctx, ""), hub.EUNAUTHORIZED)

	// A token shorter than the documented minimum is refused and the
	// stored one kept.
	_, err = e.admin.Ensure(ctx, "fifteen-chars-x")
	wantCode(t, err, hub.EINVALID)
	wantCode(t, e.admin.CheckAdminToken(ctx, "fifteen-chars-x"), hub.EUNAUTHORIZED)
	if err := e.admin.CheckAdminToken(ctx, "my-own-admin-token-123"); err != nil {
		t.Fatalf("the stored token was replaced: %v", err)
	}
}

func TestInventoryService(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	st := e.MustStore(t, "a", 1)

	t.Run("AdjustIdempotent", func(t *testing.T) {
		e.MustCount(t, "P", "main", 5)
		a := hub.Adjustment{SKU: "P", Location: "main", Delta: 3, Reason: "receipt", IdempotencyKey: "rcpt-1", Actor: "erp"}
		first, err := e.inv.Adjust(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.inv.Adjust(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if first.ID != second.ID || first.After != 8 {
			t.Fatalf("first=%+v second=%+v", first, second)
		}
		if s := e.MustStock(t, "P"); s.OnHand != 8 {
			t.Fatalf("OnHand=%d, want 8", s.OnHand)
		}
		a.Delta = 4
		_, err = e.inv.Adjust(ctx, a)
		wantCode(t, err, hub.ECONFLICT)
		_, err = e.inv.Adjust(ctx, hub.Adjustment{SKU: "P", Location: "main", Delta: -100})
		wantCode(t, err, hub.EINVALID)
		_, err = e.inv.Adjust(ctx, hub.Adjustment{SKU: "NOPE", Location: "main", Delta: -1})
		wantCode(t, err, hub.ENOTFOUND)
		if s := e.MustStock(t, "P"); s.OnHand != 8 {
			t.Fatalf("OnHand=%d after rejected adjustments", s.OnHand)
		}
	})
	t.Run("ImportAllOrNothing", func(t *testing.T) {
		_, err := e.inv.Import(ctx, []hub.Count{{SKU: "I1", Location: "main", OnHand: 1}, {SKU: "I2", Location: "main", OnHand: -1}})
		var he *hub.Error
		if hub.ErrorCode(err) != hub.EINVALID || !asHubError(err, &he) || he.Field != "counts[1].on_hand" {
			t.Fatalf("err=%v", err)
		}
		if _, err := e.inv.Stock(ctx, "I1"); hub.ErrorCode(err) != hub.ENOTFOUND {
			t.Fatalf("I1 exists after failed import: %v", err)
		}
		n, err := e.inv.Import(ctx, []hub.Count{{SKU: "I1", Location: "main", OnHand: 1}, {SKU: "I2", Location: "east", OnHand: 2}, {SKU: "I1", Location: "east", OnHand: 4}})
		if err != nil || n != 3 {
			t.Fatalf("n=%d err=%v", n, err)
		}
		if s := e.MustStock(t, "I1"); s.OnHand != 5 || s.Targets[fmt.Sprint(st.ID)] != 4 {
			t.Fatalf("I1=%+v", s)
		}
		// A recount: one location changes, a pair given twice counts its
		// last figure, and the ledger says before → after for each pair.
		if _, err := e.inv.Import(ctx, []hub.Count{{SKU: "I1", Location: "east", OnHand: 9}, {SKU: "I1", Location: "main", OnHand: 7}, {SKU: "I1", Location: "main", OnHand: 3}}); err != nil {
			t.Fatal(err)
		}
		if s := e.MustStock(t, "I1"); s.OnHand != 12 || s.Locations["main"] != 3 || s.Locations["east"] != 9 {
			t.Fatalf("I1 after the recount=%+v, want main 3 + east 9", s)
		}
		entries, err := e.inv.Ledger(ctx, "I1", hub.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var last []string
		for _, l := range entries[len(entries)-2:] {
			last = append(last, fmt.Sprintf("%s %d→%d", l.Location, l.Before, l.After))
		}
		if got := strings.Join(last, ", "); got != "east 4→9, main 1→3" {
			t.Fatalf("the recount's ledger: %s", got)
		}
	})
	t.Run("SafetyStock", func(t *testing.T) {
		s, err := e.inv.SetSafetyStock(ctx, "P", 2, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if s.Available != 6 || s.Targets[fmt.Sprint(st.ID)] != 5 {
			t.Fatalf("stock=%+v", s)
		}
		_, err = e.inv.SetSafetyStock(ctx, "NOPE", 2, "admin")
		wantCode(t, err, hub.ENOTFOUND)
		_, err = e.inv.SetSafetyStock(ctx, "P", -1, "admin")
		wantCode(t, err, hub.EINVALID)
	})
	t.Run("ListAndLedger", func(t *testing.T) {
		page, err := e.inv.ListStock(ctx, hub.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].SKU != "I1" || page[1].SKU != "I2" {
			t.Fatalf("page=%+v", page)
		}
		page, err = e.inv.ListStock(ctx, hub.Page{After: "I2", Limit: 2})
		if err != nil || len(page) != 1 || page[0].SKU != "P" {
			t.Fatalf("page=%+v err=%v", page, err)
		}
		led, err := e.inv.Ledger(ctx, "P", hub.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(led) != 3 || led[1].IdempotencyKey != "rcpt-1" || led[2].Quantity != "safety_stock" {
			t.Fatalf("ledger=%+v", led)
		}
		_, err = e.inv.Ledger(ctx, "", hub.Page{After: "x"})
		wantCode(t, err, hub.EINVALID)
	})
	t.Run("CountInvalid", func(t *testing.T) {
		for _, c := range []hub.Count{{SKU: "", Location: "m"}, {SKU: "x", Location: ""}, {SKU: "x", Location: "m", OnHand: -1}, {SKU: " x", Location: "m"}} {
			_, err := e.inv.SetCount(ctx, c)
			wantCode(t, err, hub.EINVALID)
		}
	})
	MustLedgerReplay(t, e)
}

func asHubError(err error, target **hub.Error) bool {
	he, ok := err.(*hub.Error)
	if ok {
		*target = he
	}
	return ok
}

// TestInventoryService_ImportFailingLate: a failure in the import's last
// statement (here a trigger on the ledger) undoes what the earlier ones
// wrote: the new SKU, the stock, the targets and events of the store.
func TestInventoryService_ImportFailingLate(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	st := e.MustStore(t, "a", 1)
	e.MustCount(t, "Z1", "main", 5)
	e.MustSQL(t, `CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused'; END $$`)
	e.MustSQL(t, `CREATE TRIGGER refuse_boom BEFORE INSERT ON ledger FOR EACH ROW WHEN (NEW.sku = 'Z-BOOM') EXECUTE FUNCTION refuse_boom()`)
	type counts struct {
		SKUs    int `db:"skus"`
		Stock   int `db:"stock"`
		Ledger  int `db:"ledger"`
		Targets int `db:"targets"`
		Events  int `db:"events"`
	}
	const q = `SELECT (SELECT count(*) FROM skus) AS skus, (SELECT count(*) FROM stock) AS stock, (SELECT count(*) FROM ledger) AS ledger,
		(SELECT count(*) FROM store_targets) AS targets, (SELECT count(*) FROM store_events) AS events`
	var before, after counts
	e.MustSelect(t, &before, q)
	_, err := e.inv.Import(ctx, []hub.Count{{SKU: "Z1", Location: "main", OnHand: 50}, {SKU: "Z2", Location: "back", OnHand: 2}, {SKU: "Z-BOOM", Location: "main", OnHand: 1}})
	if err == nil {
		t.Fatal("import passed the trigger")
	}
	e.MustSelect(t, &after, q)
	if after != before {
		t.Fatalf("rows after the failed import %+v, before %+v", after, before)
	}
	if s := e.MustStock(t, "Z1"); s.OnHand != 5 || s.Targets[fmt.Sprint(st.ID)] != 4 {
		t.Fatalf("Z1 after the failed import=%+v", s)
	}
}

func TestEventService_Prune(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	st := e.MustStore(t, "a", 0)
	for i := range 10 {
		e.MustCount(t, "E", "main", int64(i+1))
	}
	if head, err := e.events.HeadSeq(ctx, st.ID); err != nil || head != 10 {
		t.Fatalf("head=%d err=%v", head, err)
	}
	n, err := e.events.Prune(ctx, 4)
	if err != nil || n != 6 {
		t.Fatalf("pruned %d, err %v", n, err)
	}
	_, err = e.events.EventsAfter(ctx, st.ID, 3, 100)
	wantCode(t, err, hub.ECONFLICT)
	ev, err := e.events.EventsAfter(ctx, st.ID, 6, 100)
	if err != nil || len(ev) != 4 || ev[0].Seq != 7 {
		t.Fatalf("events=%+v err=%v", ev, err)
	}
	_, err = e.events.HeadSeq(ctx, 999)
	wantCode(t, err, hub.ENOTFOUND)
}

func TestDB_ListenAndMetrics(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	reg := prometheus.NewRegistry()
	e.db.Register(reg)
	st := e.MustStore(t, "a", 0)
	if first, _ := MustListen(t, e.MustReplica(t), e.inv, "L"); !slices.Equal(first, []int64{st.ID}) {
		t.Fatalf("notification named %v, want [%d]", first, st.ID)
	}
	if c := testutil.CollectAndCount(reg, "stockwire_hub_db_query_duration_seconds"); c == 0 {
		t.Fatal("no query duration observed")
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// TestDB_StoreMetrics: every active store's agent state is exported at
// scrape time, labelled by store; a revoked store is not, nor the webhook
// health of an agent that has not reported one (us).
func TestDB_StoreMetrics(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	reg := prometheus.NewRegistry()
	e.db.Register(reg)
	eu, us := e.MustStore(t, "eu", 0), e.MustStore(t, "us", 0)
	gone := e.MustStore(t, "gone", 0)
	seen := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	e.MustAgentState(t, eu.ID, hub.AgentState{Connected: true, LastSeen: &seen, OutboxDepth: 3,
		DeadLetters: 4, WebhookHealth: hub.WebhookHealthFailing})
	e.MustCount(t, "A", "main", 5) // one change eu's agent has not applied
	if err := e.stores.Revoke(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`
# HELP stockwire_hub_store_agent_connected 1 when the store's agent holds a live session with a hub replica.
# TYPE stockwire_hub_store_agent_connected gauge
stockwire_hub_store_agent_connected{store="eu",store_id="%[1]d"} 1
stockwire_hub_store_agent_connected{store="us",store_id="%[2]d"} 0
# HELP stockwire_hub_store_agent_last_seen_timestamp_seconds When the hub last heard from the store's agent.
# TYPE stockwire_hub_store_agent_last_seen_timestamp_seconds gauge
stockwire_hub_store_agent_last_seen_timestamp_seconds{store="eu",store_id="%[1]d"} %[3]d
# HELP stockwire_hub_store_dead_letters Order reports the hub refused, parked in the store agent's outbox until replayed, as last reported by the agent.
# TYPE stockwire_hub_store_dead_letters gauge
stockwire_hub_store_dead_letters{store="eu",store_id="%[1]d"} 4
stockwire_hub_store_dead_letters{store="us",store_id="%[2]d"} 0
# HELP stockwire_hub_store_outbox_events Events waiting in the store agent's outbox, as last reported by the agent.
# TYPE stockwire_hub_store_outbox_events gauge
stockwire_hub_store_outbox_events{store="eu",store_id="%[1]d"} 3
stockwire_hub_store_outbox_events{store="us",store_id="%[2]d"} 0
# HELP stockwire_hub_store_seq_lag Changes the hub has for the store that its agent has not yet reported applied.
# TYPE stockwire_hub_store_seq_lag gauge
stockwire_hub_store_seq_lag{store="eu",store_id="%[1]d"} 1
stockwire_hub_store_seq_lag{store="us",store_id="%[2]d"} 1
# HELP stockwire_hub_store_webhook_health 1 for the webhook health the store's agent last reported (unknown, ok, failing, off), 0 for the others.
# TYPE stockwire_hub_store_webhook_health gauge
stockwire_hub_store_webhook_health{health="failing",store="eu",store_id="%[1]d"} 1
stockwire_hub_store_webhook_health{health="off",store="eu",store_id="%[1]d"} 0
stockwire_hub_store_webhook_health{health="ok",store="eu",store_id="%[1]d"} 0
stockwire_hub_store_webhook_health{health="unknown",store="eu",store_id="%[1]d"} 0
`, eu.ID, us.ID, seen.Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"stockwire_hub_store_agent_connected", "stockwire_hub_store_agent_last_seen_timestamp_seconds",
		"stockwire_hub_store_outbox_events", "stockwire_hub_store_seq_lag",
		"stockwire_hub_store_dead_letters", "stockwire_hub_store_webhook_health"); err != nil {
		t.Fatal(err)
	}
}

// A change seen by more stores than one notification can name (PostgreSQL
// refuses payloads of 8000 bytes) still commits, and wakes every store of
// another replica (this process's own are woken by name at the commit).
func TestDB_NotifyManyStores(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	raw, err := sql.Open("postgres", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `
		WITH s AS (INSERT INTO stores (name, url, policy, buffer)
			SELECT 'many-' || i, 'https://s.example', 'mirror', 0 FROM generate_series(1, 2000) AS i RETURNING id)
		INSERT INTO store_seq (store_id) SELECT id FROM s`); err != nil {
		t.Fatal(err)
	}
	first, _ := MustListen(t, e.MustReplica(t), e.inv, "MANY")
	if first != nil {
		t.Fatalf("notification named %d stores, want none (every store)", len(first))
	}
	if head, err := e.events.HeadSeq(t.Context(), 2000); err != nil || head < 1 {
		t.Fatalf("store 2000 head=%d err=%v, want its events", head, err)
	}
}
