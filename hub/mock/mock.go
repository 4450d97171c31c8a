// Package mock holds function-field fakes of the hub service interfaces, for
// tests of packages that consume them (hub/web). Each method calls the field
// of the same name; a nil field panics, so a test states what it expects.
// Storage behaviour is tested against real PostgreSQL in hub/postgres, never
// through these fakes.
package mock

import (
	"context"
	"time"

	"github.com/stockwire/stockwire/hub"
)

var (
	_ hub.InventoryService = (*InventoryService)(nil)
	_ hub.StoreService     = (*StoreService)(nil)
	_ hub.OrderService     = (*OrderService)(nil)
	_ hub.EventService     = (*EventService)(nil)
	_ hub.AdminAuth        = (*AdminAuth)(nil)
)

// InventoryService is a fake hub.InventoryService.
type InventoryService struct {
	SetCountFn       func(ctx context.Context, c hub.Count) (hub.SKUStock, error)
	AdjustFn         func(ctx context.Context, a hub.Adjustment) (hub.LedgerEntry, error)
	SetSafetyStockFn func(ctx context.Context, sku string, n int64, actor string) (hub.SKUStock, error)
	ImportFn         func(ctx context.Context, counts []hub.Count) (int, error)
	StockFn          func(ctx context.Context, sku string) (hub.SKUStock, error)
	ListStockFn      func(ctx context.Context, p hub.Page) ([]hub.SKUStock, error)
	LedgerFn         func(ctx context.Context, sku string, p hub.Page) ([]hub.LedgerEntry, error)
}

// SetCount calls SetCountFn.
func (s *InventoryService) SetCount(ctx context.Context, c hub.Count) (hub.SKUStock, error) {
	return s.SetCountFn(ctx, c)
}

// Adjust calls AdjustFn.
func (s *InventoryService) Adjust(ctx context.Context, a hub.Adjustment) (hub.LedgerEntry, error) {
	return s.AdjustFn(ctx, a)
}

// SetSafetyStock calls SetSafetyStockFn.
func (s *InventoryService) SetSafetyStock(ctx context.Context, sku string, n int64, actor string) (hub.SKUStock, error) {
	return s.SetSafetyStockFn(ctx, sku, n, actor)
}

// Import calls ImportFn.
func (s *InventoryService) Import(ctx context.Context, counts []hub.Count) (int, error) {
	return s.ImportFn(ctx, counts)
}

// Stock calls StockFn.
func (s *InventoryService) Stock(ctx context.Context, sku string) (hub.SKUStock, error) {
	return s.StockFn(ctx, sku)
}

// ListStock calls ListStockFn.
func (s *InventoryService) ListStock(ctx context.Context, p hub.Page) ([]hub.SKUStock, error) {
	return s.ListStockFn(ctx, p)
}

// Ledger calls LedgerFn.
func (s *InventoryService) Ledger(ctx context.Context, sku string, p hub.Page) ([]hub.LedgerEntry, error) {
	return s.LedgerFn(ctx, sku, p)
}

// StoreService is a fake hub.StoreService.
type StoreService struct {
	CreateFn               func(ctx context.Context, s hub.NewStore) (hub.Store, string, error)
	StoresFn               func(ctx context.Context) ([]hub.Store, error)
	StoreFn                func(ctx context.Context, id int64) (hub.Store, error)
	RevokeFn               func(ctx context.Context, id int64) error
	CreateEnrolmentTokenFn func(ctx context.Context, ttl time.Duration) (string, time.Time, error)
	EnrolFn                func(ctx context.Context, joinToken string, s hub.NewStore) (hub.Store, string, error)
	AuthenticateAgentFn    func(ctx context.Context, token string) (hub.Store, error)
}

// Create calls CreateFn.
func (s *StoreService) Create(ctx context.Context, n hub.NewStore) (hub.Store, string, error) {
	return s.CreateFn(ctx, n)
}

// Stores calls StoresFn.
func (s *StoreService) Stores(ctx context.Context) ([]hub.Store, error) { return s.StoresFn(ctx) }

// Store calls StoreFn.
func (s *StoreService) Store(ctx context.Context, id int64) (hub.Store, error) {
	return s.StoreFn(ctx, id)
}

// Revoke calls RevokeFn.
func (s *StoreService) Revoke(ctx context.Context, id int64) error { return s.RevokeFn(ctx, id) }

// CreateEnrolmentToken calls CreateEnrolmentTokenFn.
func (s *StoreService) CreateEnrolmentToken(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	return s.CreateEnrolmentTokenFn(ctx, ttl)
}

// Enrol calls EnrolFn.
func (s *StoreService) Enrol(ctx context.Context, joinToken string, n hub.NewStore) (hub.Store, string, error) {
	return s.EnrolFn(ctx, joinToken, n)
}

// AuthenticateAgent calls AuthenticateAgentFn.
func (s *StoreService) AuthenticateAgent(ctx context.Context, token string) (hub.Store, error) {
	return s.AuthenticateAgentFn(ctx, token)
}

// OrderService is a fake hub.OrderService.
type OrderService struct {
	ApplyOrderReportFn func(ctx context.Context, storeID int64, r hub.OrderReport) (hub.Order, error)
	OrdersFn           func(ctx context.Context, p hub.Page) ([]hub.Order, string, error)
	FulfilFn           func(ctx context.Context, orderID int64, actor string) (hub.Order, error)
	OrderFn            func(ctx context.Context, orderID int64) (hub.Order, error)
	ErasePersonalFn    func(ctx context.Context, before time.Time) (int64, error)
}

// Order calls OrderFn.
func (s *OrderService) Order(ctx context.Context, orderID int64) (hub.Order, error) {
	return s.OrderFn(ctx, orderID)
}

// ErasePersonalData calls ErasePersonalFn.
func (s *OrderService) ErasePersonalData(ctx context.Context, before time.Time) (int64, error) {
	return s.ErasePersonalFn(ctx, before)
}

// ApplyOrderReport calls ApplyOrderReportFn.
func (s *OrderService) ApplyOrderReport(ctx context.Context, storeID int64, r hub.OrderReport) (hub.Order, error) {
	return s.ApplyOrderReportFn(ctx, storeID, r)
}

// Orders calls OrdersFn.
func (s *OrderService) Orders(ctx context.Context, p hub.Page) ([]hub.Order, string, error) {
	return s.OrdersFn(ctx, p)
}

// Fulfil calls FulfilFn.
func (s *OrderService) Fulfil(ctx context.Context, orderID int64, actor string) (hub.Order, error) {
	return s.FulfilFn(ctx, orderID, actor)
}

// EventService is a fake hub.EventService.
type EventService struct {
	HeadSeqFn     func(ctx context.Context, storeID int64) (int64, error)
	EventsAfterFn func(ctx context.Context, storeID, after int64, limit int) ([]hub.Event, error)
	SnapshotFn    func(ctx context.Context, storeID int64) (int64, map[string]int64, error)
	NewEpochFn    func(ctx context.Context, storeID int64) (string, error)
}

// HeadSeq calls HeadSeqFn.
func (s *EventService) HeadSeq(ctx context.Context, storeID int64) (int64, error) {
	return s.HeadSeqFn(ctx, storeID)
}

// EventsAfter calls EventsAfterFn.
func (s *EventService) EventsAfter(ctx context.Context, storeID, after int64, limit int) ([]hub.Event, error) {
	return s.EventsAfterFn(ctx, storeID, after, limit)
}

// Snapshot calls SnapshotFn.
func (s *EventService) Snapshot(ctx context.Context, storeID int64) (int64, map[string]int64, error) {
	return s.SnapshotFn(ctx, storeID)
}

// NewEpoch calls NewEpochFn.
func (s *EventService) NewEpoch(ctx context.Context, storeID int64) (string, error) {
	return s.NewEpochFn(ctx, storeID)
}

// AdminAuth is a fake hub.AdminAuth.
type AdminAuth struct {
	CheckAdminTokenFn func(ctx context.Context, token string) error
}

// CheckAdminToken calls CheckAdminTokenFn.
func (a *AdminAuth) CheckAdminToken(ctx context.Context, token string) error {
	return a.CheckAdminTokenFn(ctx, token)
}
