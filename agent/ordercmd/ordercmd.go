// Package ordercmd applies the ERP's answers that the hub relays over the
// link (wire.OrderCommand: an ERP reference, a fulfilment, a cancellation)
// to the store's WooCommerce order. It owns what each command writes on the
// order: meta, notes and status. Receiving commands and answering the hub
// with CommandDone belong to the relay in package agent; the REST calls to
// agent/wooclient.
//
// # Applied once
//
// The hub sends a command again until the agent answers it, so the agent
// may get it again after a crash halfway through applying it. A command is
// applied in three steps:
//
//  1. Read the order. If it carries the meta _stockwire_command_<id> =
//     "applied", the command is done: return at once.
//  2. Add the command's note unless a note with the same text is already
//     on the order (the store's notes are listed first).
//  3. Write the status and meta change and the marker meta in one PUT.
//     WooCommerce saves an order's status and meta in one write, so the
//     marker is on the order exactly when the change is.
//
// A crash before step 3 leaves at most the note, which the next attempt
// finds and does not add again; a crash after it leaves the marker, and the
// next attempt changes nothing. A fulfilment's tracking entry carries
// tracking_id "stockwire-<id>" and is not added twice either. Two different
// commands whose notes read the same add the note once: the same words
// carry the same news.
package ordercmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockwire/stockwire/agent"
	"github.com/stockwire/stockwire/agent/wooclient"
	"github.com/stockwire/stockwire/shared/wire"
	"github.com/stockwire/stockwire/shared/woo"
)

// API is what the applier needs of the store's REST client
// (*wooclient.Client implements it). Each call returns an error matching
// wooclient.ErrOrderNotFound when the store has no such order.
type API interface {
	GetOrder(ctx context.Context, id int64) (woo.Order, error)
	UpdateOrder(ctx context.Context, id int64, u wooclient.OrderUpdate) (woo.Order, error)
	ListOrderNotes(ctx context.Context, orderID int64) ([]woo.OrderNote, error)
	CreateOrderNote(ctx context.Context, orderID int64, note string, customerNote bool) (woo.OrderNote, error)
}

var (
	_ API                  = (*wooclient.Client)(nil)
	_ agent.OrderCommander = (*Applier)(nil)
)

// Order meta keys the applier writes.
const (
	// MetaERPReference is the ERP's reference of the order ("SO-1234").
	MetaERPReference = "_stockwire_erp_reference"
	// MetaERPSystem names the ERP that gave the reference ("netsuite").
	MetaERPSystem = "_stockwire_erp_system"
	// MetaTracking is WooCommerce Shipment Tracking's list of shipments.
	MetaTracking = "_wc_shipment_tracking_items"
	// markerValue is the value of a command's marker meta.
	markerValue = "applied"
)

// MarkerKey returns the order meta key that records command id as applied.
func MarkerKey(id int64) string { return "_stockwire_command_" + strconv.FormatInt(id, 10) }

// TrackingID returns the tracking_id of the Shipment Tracking entry that
// command id adds.
func TrackingID(id int64) string { return "stockwire-" + strconv.FormatInt(id, 10) }

// TrackingItem is one entry of _wc_shipment_tracking_items, with the keys
// WooCommerce Shipment Tracking reads. The applier leaves TrackingProvider
// empty (it names one of the extension's predefined providers) and names
// the carrier in CustomTrackingProvider. DateShipped is a Unix time in
// seconds, as a string, as the extension stores it.
type TrackingItem struct {
	TrackingProvider       string `json:"tracking_provider"`
	CustomTrackingProvider string `json:"custom_tracking_provider"`
	CustomTrackingLink     string `json:"custom_tracking_link"`
	TrackingNumber         string `json:"tracking_number"`
	DateShipped            string `json:"date_shipped"`
	TrackingID             string `json:"tracking_id"`
}

// Applier applies order commands to one store. Create it with New; it is
// safe for concurrent use, though commands for one order should come one
// at a time (the relay's order).
type Applier struct {
	// API is the store's REST client.
	API API
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock, for a shipment without a date. Defaults to
	// time.Now.
	Now func() time.Time

	metrics *metrics
}

// New returns an Applier on api registering its metrics on reg (nil:
// none).
func New(api API, logger *slog.Logger, reg prometheus.Registerer) (*Applier, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Applier{API: api, Logger: logger, Now: time.Now, metrics: m}, nil
}

// ApplyCommand applies c to its order once (see the package comment).
// Returns an error matching agent.ErrCommandRefused when the order is not
// in the store or in its trash, the kind is unknown, the payload is
// missing, or the store rejects a request with 400, 404 or 410; any other
// error (5xx, timeout, the store unreachable) is returned as it is, to be
// applied again later.
func (a *Applier) ApplyCommand(ctx context.Context, c wire.OrderCommand) error {
	start := time.Now()
	// An ERP's answer is due in the store within a second: it goes ahead
	// of order polls and safety-net checks, as stock writes do.
	result, err := a.apply(wooclient.Urgent(ctx), c)
	kind := c.Kind
	if !knownKind(kind) {
		kind = "unknown"
	}
	a.metrics.commands.WithLabelValues(kind, result).Inc()
	a.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("apply %s command %d to order %d: %w", c.Kind, c.ID, c.WooOrderID, err)
	}
	a.Logger.Debug("order command done", "command_id", c.ID, "order_id", c.WooOrderID, "kind", c.Kind, "result", result)
	return nil
}

func knownKind(kind string) bool {
	switch kind {
	case wire.CommandERPReference, wire.CommandFulfilment, wire.CommandCancellation:
		return true
	}
	return false
}

// note is an order note a command adds.
type note struct {
	text     string
	customer bool
}

// change is what a command does to an order besides its marker.
type change struct {
	notes  []note
	status string // "" keeps the order's status
	meta   []woo.MetaData
}

func (a *Applier) apply(ctx context.Context, c wire.OrderCommand) (result string, err error) {
	if err := validate(c); err != nil {
		return resultRefused, err
	}
	o, err := a.API.GetOrder(ctx, c.WooOrderID)
	if err != nil {
		return classify(err)
	}
	if o.Status == "trash" {
		return resultRefused, fmt.Errorf("order is in the trash: %w", agent.ErrCommandRefused)
	}
	if applied(o, c.ID) {
		return resultRepeat, nil
	}
	ch, err := a.plan(c, o)
	if err != nil {
		return resultRefused, err
	}
	if len(ch.notes) > 0 {
		have, err := a.API.ListOrderNotes(ctx, o.ID)
		if err != nil {
			return classify(err)
		}
		for _, n := range ch.notes {
			if hasNote(have, n) {
				continue
			}
			if _, err := a.API.CreateOrderNote(ctx, o.ID, n.text, n.customer); err != nil {
				return classify(err)
			}
		}
	}
	u := wooclient.OrderUpdate{MetaData: append(ch.meta, woo.MetaData{Key: MarkerKey(c.ID), Value: jsonString(markerValue)})}
	if ch.status != "" && ch.status != o.Status {
		u.Status = &ch.status
	}
	if _, err := a.API.UpdateOrder(ctx, o.ID, u); err != nil {
		return classify(err)
	}
	return resultApplied, nil
}

// validate refuses a command this agent cannot apply to any order.
func validate(c wire.OrderCommand) error {
	switch c.Kind {
	case wire.CommandERPReference:
		if c.ERP == nil || c.ERP.Reference == "" {
			return fmt.Errorf("no ERP reference: %w", agent.ErrCommandRefused)
		}
	case wire.CommandFulfilment:
		if c.Shipment == nil {
			return fmt.Errorf("no shipment: %w", agent.ErrCommandRefused)
		}
	case wire.CommandCancellation:
	default:
		return fmt.Errorf("unknown kind %q: %w", c.Kind, agent.ErrCommandRefused)
	}
	return nil
}

// classify marks err as a refusal when the store's answer is final: the
// order is not there, or the request itself was rejected (400, 404, 410).
// Authentication, rate limit and server errors stay transient: they heal
// or need a human, and the command must still be applied afterwards.
func classify(err error) (string, error) {
	var ae *woo.APIError
	if errors.Is(err, wooclient.ErrOrderNotFound) ||
		errors.As(err, &ae) && (ae.Data.Status == 400 || ae.Data.Status == 404 || ae.Data.Status == 410) {
		return resultRefused, fmt.Errorf("%w: %w", agent.ErrCommandRefused, err)
	}
	return resultError, err
}

// applied reports whether o carries command id's marker.
func applied(o woo.Order, id int64) bool {
	v, ok := o.Meta(MarkerKey(id))
	if !ok {
		return false
	}
	var s string
	return json.Unmarshal(v, &s) == nil && s == markerValue
}

// hasNote reports whether notes hold n. Texts are compared as WordPress
// may have stored them: HTML characters perhaps as entities, backslashes
// perhaps stripped (wp_insert_comment unslashes what it is given).
func hasNote(notes []woo.OrderNote, n note) bool {
	want := normNote(n.text)
	for _, x := range notes {
		if x.CustomerNote == n.customer && normNote(x.Note) == want {
			return true
		}
	}
	return false
}

func normNote(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(html.UnescapeString(s), `\`, ""))
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// plan works out c's change to o.
func (a *Applier) plan(c wire.OrderCommand, o woo.Order) (change, error) {
	switch c.Kind {
	case wire.CommandERPReference:
		return change{
			notes: []note{{text: "ERP reference (" + c.ERP.System + "): " + c.ERP.Reference}},
			meta: []woo.MetaData{
				{Key: MetaERPReference, Value: jsonString(c.ERP.Reference)},
				{Key: MetaERPSystem, Value: jsonString(c.ERP.System)},
			},
		}, nil
	case wire.CommandFulfilment:
		return a.planFulfilment(c.ID, c.Shipment, o)
	default: // wire.CommandCancellation; validate refused the rest
		if o.Status == "cancelled" {
			return change{}, nil
		}
		text := "Cancelled by the ERP."
		if c.Reason != "" {
			text = "Cancelled by the ERP: " + c.Reason
		}
		return change{status: "cancelled", notes: []note{{text: text}}}, nil
	}
}

func (a *Applier) planFulfilment(id int64, s *wire.Shipment, o woo.Order) (change, error) {
	var ch change
	if s.Complete {
		ch.status = "completed"
	}
	ch.notes = []note{{text: shipmentNote(s, o), customer: true}}
	if s.TrackingNumber == "" {
		return ch, nil
	}
	items, err := trackingItems(o)
	if err != nil {
		return change{}, err
	}
	tid := TrackingID(id)
	for _, it := range items {
		var x struct {
			TrackingID any `json:"tracking_id"`
		}
		if json.Unmarshal(it, &x) == nil && x.TrackingID == tid {
			return ch, nil
		}
	}
	shipped := s.ShippedAt
	if shipped.IsZero() {
		shipped = a.Now()
	}
	item, err := json.Marshal(TrackingItem{CustomTrackingProvider: s.Carrier, CustomTrackingLink: s.TrackingURL,
		TrackingNumber: s.TrackingNumber, DateShipped: strconv.FormatInt(shipped.Unix(), 10), TrackingID: tid})
	if err != nil {
		return change{}, fmt.Errorf("encode tracking item: %w", err)
	}
	list, err := json.Marshal(append(items, item))
	if err != nil {
		return change{}, fmt.Errorf("encode tracking items: %w", err)
	}
	ch.meta = []woo.MetaData{{Key: MetaTracking, Value: list}}
	return ch, nil
}

// trackingItems returns the entries of o's _wc_shipment_tracking_items:
// none when unset or empty. PHP shows an array whose keys are no longer
// 0…n-1 (an entry was deleted) as a JSON object; its entries are taken in
// key order.
func trackingItems(o woo.Order) ([]json.RawMessage, error) {
	v, ok := o.Meta(MetaTracking)
	if !ok {
		return nil, nil
	}
	switch t := strings.TrimSpace(string(v)); t {
	case "", "null", `""`, "[]", "{}":
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err == nil {
		return list, nil
	}
	var byKey map[string]json.RawMessage
	if err := json.Unmarshal(v, &byKey); err != nil {
		return nil, fmt.Errorf("order meta %s is neither a list nor a map: %w", MetaTracking, agent.ErrCommandRefused)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	for _, k := range keys {
		list = append(list, byKey[k])
	}
	return list, nil
}

// shipmentNote is the note the customer sees: the carrier, the tracking
// number and link, and for a partial shipment its lines by the order's
// names ("Blue Mug × 2"), by SKU where the order has no such line.
func shipmentNote(s *wire.Shipment, o woo.Order) string {
	var b strings.Builder
	if len(s.Lines) > 0 {
		b.WriteString("Part of your order has shipped")
	} else {
		b.WriteString("Your order has shipped")
	}
	if s.Carrier != "" {
		b.WriteString(" with " + s.Carrier)
	}
	if len(s.Lines) > 0 {
		parts := make([]string, 0, len(s.Lines))
		for _, l := range s.Lines {
			name := l.SKU
			for _, li := range o.LineItems {
				if li.SKU != nil && *li.SKU == l.SKU {
					name = li.Name
					break
				}
			}
			parts = append(parts, name+" × "+strconv.FormatInt(l.Quantity, 10))
		}
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString(".")
	if s.TrackingNumber != "" {
		b.WriteString(" Tracking number: " + s.TrackingNumber)
	}
	if s.TrackingURL != "" {
		b.WriteString(" Track it: " + s.TrackingURL)
	}
	return b.String()
}
