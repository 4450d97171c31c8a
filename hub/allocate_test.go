package hub_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// params are small, so the cases read with few units.
var params = hub.AllocationParams{LowWater: 2, MinGrant: 5, MaxGrant: 20, CoverSeconds: 10, IdleSeconds: 60}

var now = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// holding is a connected store with params, busy a second ago unless the
// case says otherwise.
func holding(id, allocated int64, opts ...func(*hub.Holding)) hub.Holding {
	h := hub.Holding{StoreID: id, Connected: true, Params: params, Allocated: allocated, RateAt: now, GrantedAt: now.Add(-time.Second)}
	for _, o := range opts {
		o(&h)
	}
	return h
}

func rate(r float64) func(*hub.Holding)     { return func(h *hub.Holding) { h.SalesRate = r } }
func reclaiming(n int64) func(*hub.Holding) { return func(h *hub.Holding) { h.Reclaiming = n } }
func offline(h *hub.Holding)                { h.Connected = false }

// idleFor makes the store last busy d ago.
func idleFor(d time.Duration) func(*hub.Holding) {
	return func(h *hub.Holding) { h.GrantedAt, h.LastSale = now.Add(-d), time.Time{} }
}

func TestHolding_GrantSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		h    hub.Holding
		want int64
	}{
		{"NoSalesGetsMinGrant", holding(1, 0), 5},
		{"SalesOverCover", holding(1, 0, rate(0.8)), 8},
		{"RoundsUp", holding(1, 0, rate(0.71)), 8},
		{"CappedAtMaxGrant", holding(1, 0, rate(10)), 20},
		{"RateDecaysOverTime", holding(1, 0, rate(1.6), func(h *hub.Holding) { h.RateAt = now.Add(-hub.SalesRateWindow) }), int64(math.Ceil(1.6 / math.E * 10))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.h.GrantSize(now); got != tt.want {
				t.Fatalf("GrantSize=%d, want %d", got, tt.want)
			}
		})
	}
}

func TestHolding_Idle(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		h    hub.Holding
		want bool
	}{
		{"Busy", holding(1, 3), false},
		{"JustIdle", holding(1, 3, idleFor(60*time.Second)), true},
		{"NeverBusy", holding(1, 0, func(h *hub.Holding) { h.GrantedAt = time.Time{} }), true},
		{"RecentSaleAfterOldGrant", holding(1, 3, idleFor(time.Hour), func(h *hub.Holding) { h.LastSale = now.Add(-time.Second) }), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.h.Idle(now); got != tt.want {
				t.Fatalf("Idle=%v, want %v", got, tt.want)
			}
		})
	}
}

func TestHolding_TakeLocal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name          string
		allocated     int64
		delta         int64
		sale          bool
		wantAllocated int64
		wantOversold  int64
		wantRate      float64
	}{
		{"SaleWithinHolding", 5, -3, true, 2, 0, 3 / hub.SalesRateWindow.Seconds()},
		{"SaleBeyondHolding", 2, -5, true, 0, 3, 5 / hub.SalesRateWindow.Seconds()},
		{"ReleaseLeavesTheRate", 5, -5, false, 0, 0, 0},
		{"Restock", 1, 4, false, 5, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := holding(1, tt.allocated)
			over := h.TakeLocal(tt.delta, tt.sale, now)
			if h.Allocated != tt.wantAllocated || over != tt.wantOversold {
				t.Fatalf("Allocated=%d oversold=%d, want %d and %d", h.Allocated, over, tt.wantAllocated, tt.wantOversold)
			}
			if math.Abs(h.SalesRateAt(now)-tt.wantRate) > 1e-9 {
				t.Fatalf("rate=%v, want %v", h.SalesRateAt(now), tt.wantRate)
			}
			if tt.sale && !h.LastSale.Equal(now) {
				t.Fatalf("LastSale=%v, want now", h.LastSale)
			}
		})
	}
}

func TestPlanAllocation(t *testing.T) {
	t.Parallel()
	idle := idleFor(time.Hour)
	for _, tt := range []struct {
		name     string
		pool     int64
		holdings []hub.Holding
		want     hub.AllocationPlan
	}{
		{
			name:     "FirstGrants",
			pool:     100,
			holdings: []hub.Holding{holding(2, 0), holding(1, 0)},
			want:     hub.AllocationPlan{Grants: []hub.Grant{{StoreID: 1, Units: 5}, {StoreID: 2, Units: 5}}},
		},
		{
			name:     "NothingBelowLowWater",
			pool:     100,
			holdings: []hub.Holding{holding(1, 2), holding(2, 9)},
		},
		{
			name:     "FastestSellerFirstWhilePoolLasts",
			pool:     12,
			holdings: []hub.Holding{holding(1, 0, rate(0.5)), holding(2, 1, rate(1))},
			want:     hub.AllocationPlan{Grants: []hub.Grant{{StoreID: 2, Units: 10}, {StoreID: 1, Units: 2}}},
		},
		{
			name:     "OfflineAndReclaimingStoresGetNothing",
			pool:     100,
			holdings: []hub.Holding{holding(1, 0, offline), holding(2, 1, reclaiming(1))},
		},
		{
			name:     "IdleStoreBelowLowWaterKeepsWhatItHas",
			pool:     100,
			holdings: []hub.Holding{holding(1, 1, idle)},
		},
		{
			name:     "IdleStoreWithNothingGetsAFirstChunk",
			pool:     100,
			holdings: []hub.Holding{holding(1, 0, idle)},
			want:     hub.AllocationPlan{Grants: []hub.Grant{{StoreID: 1, Units: 5}}},
		},
		{
			name:     "EmptyPoolReclaimsFromIdleStores",
			pool:     0,
			holdings: []hub.Holding{holding(1, 0), holding(2, 5, idle)},
			want:     hub.AllocationPlan{Reclaims: []hub.PlannedReclaim{{StoreID: 2, Units: 5, Reason: hub.ReclaimIdle}}},
		},
		{
			name:     "LongestIdleGivesFirst",
			pool:     0,
			holdings: []hub.Holding{holding(1, 0), holding(2, 20, idleFor(2*time.Minute)), holding(3, 20, idleFor(time.Hour))},
			want:     hub.AllocationPlan{Reclaims: []hub.PlannedReclaim{{StoreID: 3, Units: 5, Reason: hub.ReclaimIdle}}},
		},
		{
			name:     "TooLittleLeftGivesAll",
			pool:     0,
			holdings: []hub.Holding{holding(1, 0), holding(2, 6, idle)},
			want:     hub.AllocationPlan{Reclaims: []hub.PlannedReclaim{{StoreID: 2, Units: 6, Reason: hub.ReclaimIdle}}},
		},
		{
			name:     "PartialGrantReclaimsTheRest",
			pool:     3,
			holdings: []hub.Holding{holding(1, 0), holding(2, 9, idle)},
			want: hub.AllocationPlan{
				Grants:   []hub.Grant{{StoreID: 1, Units: 3}},
				Reclaims: []hub.PlannedReclaim{{StoreID: 2, Units: 2, Reason: hub.ReclaimIdle}},
			},
		},
		{
			name:     "WhatIsAskedAlreadyIsNotAskedAgain",
			pool:     0,
			holdings: []hub.Holding{holding(1, 0), holding(2, 10, idle, reclaiming(5))},
			want:     hub.AllocationPlan{},
		},
		{
			name:     "BusyStoresAreNotAsked",
			pool:     0,
			holdings: []hub.Holding{holding(1, 0), holding(2, 10)},
		},
		{
			name:     "ExposureReclaimsLeastRecentlyBusyFirst",
			pool:     -4,
			holdings: []hub.Holding{holding(1, 3), holding(2, 3, idleFor(time.Minute)), holding(3, 0)},
			want: hub.AllocationPlan{Reclaims: []hub.PlannedReclaim{
				{StoreID: 2, Units: 3, Reason: hub.ReclaimExposure}, {StoreID: 1, Units: 1, Reason: hub.ReclaimExposure},
			}},
		},
		{
			name:     "ExposureCountsWhatIsAskedAlreadyAndSkipsOfflineStores",
			pool:     -4,
			holdings: []hub.Holding{holding(1, 5, offline, reclaiming(1)), holding(2, 5)},
			want:     hub.AllocationPlan{Reclaims: []hub.PlannedReclaim{{StoreID: 2, Units: 3, Reason: hub.ReclaimExposure}}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hub.PlanAllocation(tt.pool, tt.holdings, now); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("plan=%+v, want %+v", got, tt.want)
			}
		})
	}
}
