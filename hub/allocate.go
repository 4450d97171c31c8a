package hub

import (
	"math"
	"slices"
	"sort"
	"time"
)

// The allocate policy's decisions, as pure functions of what the stores
// hold, their parameters and the time. hub/postgres loads the figures
// under the SKU row locks, asks PlanAllocation what to grant and reclaim,
// and writes the outcome in the same transaction.

// SalesRateWindow is the time constant of the decayed sales rate that sizes
// grants: a sale of q units adds q/SalesRateWindow units per second, which
// then decays by e every SalesRateWindow.
const SalesRateWindow = 30 * time.Second

// Reasons for a reclaim: an idle store's units are needed by another store,
// or a count lowered stock below what the stores hold (exposure).
const (
	ReclaimIdle     = "idle"
	ReclaimExposure = "exposure"
)

// Holding is what one active allocate store holds of one SKU, with what
// the policy needs to know of the store.
type Holding struct {
	StoreID int64
	// Connected stores get grants and are asked for reclaims; a store cut
	// off from the hub keeps what it holds.
	Connected bool
	Params    AllocationParams
	// Allocated is granted and not yet sold or released; Reclaiming is the
	// part of it asked back and not yet confirmed.
	Allocated  int64
	Reclaiming int64
	// SalesRate is in units per second as of RateAt.
	SalesRate float64
	RateAt    time.Time
	// LastSale and GrantedAt are zero when the store never sold or
	// received the SKU.
	LastSale  time.Time
	GrantedAt time.Time
}

// SalesRateAt returns the decayed sales rate at now.
func (h Holding) SalesRateAt(now time.Time) float64 {
	dt := now.Sub(h.RateAt)
	if dt <= 0 {
		return h.SalesRate
	}
	return h.SalesRate * math.Exp(-dt.Seconds()/SalesRateWindow.Seconds())
}

// BusyAt is the last time the store sold or received the SKU.
func (h Holding) BusyAt() time.Time {
	if h.LastSale.After(h.GrantedAt) {
		return h.LastSale
	}
	return h.GrantedAt
}

// Idle reports whether the store neither sold nor received the SKU for its
// IdleSeconds.
func (h Holding) Idle(now time.Time) bool {
	return now.Sub(h.BusyAt()) >= time.Duration(h.Params.IdleSeconds)*time.Second
}

// GrantSize is what one grant gives the store: its recent sales over
// CoverSeconds, within [MinGrant, MaxGrant].
func (h Holding) GrantSize(now time.Time) int64 {
	n := int64(math.Ceil(h.SalesRateAt(now) * float64(h.Params.CoverSeconds)))
	return min(max(n, h.Params.MinGrant), h.Params.MaxGrant)
}

// TakeLocal moves a change the store made to its own shelf into its
// holding: delta < 0 is a sale (sale set) or a release of a reclaim, delta
// > 0 a restock. A sale raises the sales rate. A sale beyond the holding (a
// store that was mirror when it sold, or a bug) leaves the holding at 0 and
// returns the units sold beyond it, to be counted as oversold, never
// hidden.
func (h *Holding) TakeLocal(delta int64, sale bool, now time.Time) (oversold int64) {
	if sale {
		h.SalesRate = h.SalesRateAt(now) + float64(-delta)/SalesRateWindow.Seconds()
		h.RateAt, h.LastSale = now, now
	}
	h.Allocated += delta
	if h.Allocated < 0 {
		oversold = -h.Allocated
		h.Allocated = 0
	}
	return oversold
}

// Grant gives a store Units from the pool.
type Grant struct {
	StoreID int64
	Units   int64
}

// PlannedReclaim asks a store to give back up to Units; Reason is
// ReclaimIdle or ReclaimExposure.
type PlannedReclaim struct {
	StoreID int64
	Units   int64
	Reason  string
}

// AllocationPlan is what PlanAllocation decided for one SKU.
type AllocationPlan struct {
	Grants   []Grant
	Reclaims []PlannedReclaim
}

// PlanAllocation decides the grants and reclaims of one SKU. pool is what
// no store holds (available less every store's allocation, revoked stores
// included); holdings has one entry per active allocate store.
//
// With a pool below zero the stores hold more than stock: the shortfall,
// less what is already being asked back, is reclaimed from connected
// stores, least recently busy first, and nothing is granted.
//
// Otherwise connected stores below their low-water mark get a grant,
// fastest sellers first, while the pool lasts. A store below its low-water
// mark that has been idle for IdleSeconds needs nothing more (it keeps what
// it has, and gives it back when others need it) unless it holds nothing
// at all: every store gets a first chunk to sell. What the pool could not
// grant, less what is already being asked back, is reclaimed from
// connected stores idle for their IdleSeconds, longest idle first; a store
// is never left with fewer units than its low-water mark, it gives all.
func PlanAllocation(pool int64, holdings []Holding, now time.Time) AllocationPlan {
	byID := slices.Clone(holdings)
	sort.Slice(byID, func(i, j int) bool { return byID[i].StoreID < byID[j].StoreID })
	var plan AllocationPlan
	if pool < 0 {
		plan.Reclaims = reclaimExposure(-pool, byID)
		return plan
	}
	var needy []Holding
	for _, h := range byID {
		if h.Connected && h.Allocated < h.Params.LowWater && h.Reclaiming == 0 && (h.Allocated == 0 || !h.Idle(now)) {
			needy = append(needy, h)
		}
	}
	sort.SliceStable(needy, func(i, j int) bool { return needy[i].SalesRateAt(now) > needy[j].SalesRateAt(now) })
	var unmet int64
	served := map[int64]bool{}
	for _, h := range needy {
		want := h.GrantSize(now)
		g := min(pool, want)
		if g > 0 {
			plan.Grants = append(plan.Grants, Grant{StoreID: h.StoreID, Units: g})
			pool -= g
		}
		unmet += want - g
		served[h.StoreID] = true
	}
	if unmet > 0 {
		plan.Reclaims = reclaimIdle(unmet, byID, served, now)
	}
	return plan
}

// reclaimIdle asks connected stores idle for their IdleSeconds, and not
// served a grant, for up to unmet units less what is already being asked,
// longest idle first.
func reclaimIdle(unmet int64, byID []Holding, served map[int64]bool, now time.Time) []PlannedReclaim {
	var donors []Holding
	for _, h := range byID {
		if !h.Connected {
			continue
		}
		unmet -= h.Reclaiming
		if !served[h.StoreID] && h.Idle(now) && h.Allocated-h.Reclaiming > 0 {
			donors = append(donors, h)
		}
	}
	sort.SliceStable(donors, func(i, j int) bool { return donors[i].BusyAt().Before(donors[j].BusyAt()) })
	var out []PlannedReclaim
	for _, h := range donors {
		if unmet <= 0 {
			break
		}
		free := h.Allocated - h.Reclaiming
		n := min(free, unmet)
		if free-n < h.Params.LowWater {
			n = free // what would be left is too little to keep an idle store busy
		}
		out = append(out, PlannedReclaim{StoreID: h.StoreID, Units: n, Reason: ReclaimIdle})
		unmet -= n
	}
	return out
}

// reclaimExposure asks connected stores for the short units, less what is
// already being asked, least recently busy first.
func reclaimExposure(short int64, byID []Holding) []PlannedReclaim {
	var donors []Holding
	for _, h := range byID {
		short -= h.Reclaiming
		if h.Connected && h.Allocated-h.Reclaiming > 0 {
			donors = append(donors, h)
		}
	}
	sort.SliceStable(donors, func(i, j int) bool { return donors[i].BusyAt().Before(donors[j].BusyAt()) })
	var out []PlannedReclaim
	for _, h := range donors {
		if short <= 0 {
			break
		}
		n := min(h.Allocated-h.Reclaiming, short)
		out = append(out, PlannedReclaim{StoreID: h.StoreID, Units: n, Reason: ReclaimExposure})
		short -= n
	}
	return out
}
