// The SKU map: where each of the store's SKUs lives, and the items the
// agent will not guess about.

package catalog

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"slices"
	"sort"
	"sync"

	"github.com/stockwire/stockwire/shared/woo"
)

// Entry is where one SKU lives in the store.
type Entry struct {
	SKU         string
	ProductID   int64 // the product; for a variation, its parent (as order line items say)
	VariationID int64 // 0 for a product that is not a variation
	ParentID    int64 // the variable parent of a variation, else 0
	ManageStock bool  // stock managed by this item (not "parent")
}

// ID returns the id to read and write the item by: the variation's id for
// a variation, else the product's.
func (e Entry) ID() int64 {
	if e.VariationID != 0 {
		return e.VariationID
	}
	return e.ProductID
}

// IssueKind names a catalog problem the agent will not guess about.
type IssueKind string

// Issue kinds.
const (
	IssueEmptySKU     IssueKind = "empty_sku"     // product or variation without a SKU: not mapped
	IssueDuplicateSKU IssueKind = "duplicate_sku" // several items show this SKU: none mapped
	IssueInheritedSKU IssueKind = "inherited_sku" // variation showing its parent's SKU: not mapped
)

// Issue is one unmapped item.
type Issue struct {
	Kind     IssueKind
	SKU      string
	ID       int64 // product or variation id
	ParentID int64
}

// item is one product or variation as last read: only what the map needs
// (a large store has 100,000 of them). Guarded by Map.mu.
type item struct {
	id, parent int64
	sku        string
	// variations is a hash of a variable product's variation ids (0 for
	// none), to tell when the list changed; 32 bits keep the item in 48
	// bytes.
	variations uint32
	manage     bool
	inherited  bool
	container  bool // variable or grouped: needs no SKU
}

// Map is the agent's one map of the store's SKUs to the products and
// variations holding them. Three sources fill it: the full catalog scan,
// in the background (Catalog.Run); product webhooks (Catalog.Update,
// Remove); and the stock writer, which looks up by SKU through the REST
// API what it must write before the scan has got there, and records what
// it finds (Found). It is safe for concurrent use.
type Map struct {
	mu    sync.RWMutex
	items map[int64]*item // by product/variation id
	// skus and dups hold every own, non-inherited SKU: skus those one item
	// holds, dups those several items hold (their ids).
	skus     map[string]int64
	dups     map[string][]int64
	complete bool // a full scan has filled the map
	// While a scan runs, touched holds the ids put or removed since it
	// began (what the scan reads of them is older) and scannedIDs the ids
	// it read (those it did not are gone from the store). Both nil while
	// no scan runs.
	touched    map[int64]struct{}
	scannedIDs []int64
}

// NewMap returns an empty map.
func NewMap() *Map {
	return &Map{items: map[int64]*item{}, skus: map[string]int64{}, dups: map[string][]int64{}}
}

// Lookup returns the entry of sku; ok is false when the SKU is unknown,
// duplicated or only inherited.
func (m *Map) Lookup(sku string) (Entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.skus[sku]
	if !ok {
		return Entry{}, false
	}
	it := m.items[id]
	e := Entry{SKU: it.sku, ProductID: it.id, ManageStock: it.manage}
	if it.parent != 0 {
		e.ProductID, e.VariationID, e.ParentID = it.parent, it.id, it.parent
	}
	return e, true
}

// Len returns the number of mapped SKUs.
func (m *Map) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.skus)
}

// Complete reports whether a full scan has filled the map; before that it
// holds only what webhooks and the stock writer's reads brought.
func (m *Map) Complete() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.complete
}

// Issues returns every unmapped item, sorted by kind, SKU and id.
func (m *Map) Issues() []Issue {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return issues(m.items, m.dups)
}

func issues(items map[int64]*item, dups map[string][]int64) []Issue {
	var out []Issue
	for _, it := range items {
		switch {
		case it.inherited:
			out = append(out, Issue{Kind: IssueInheritedSKU, SKU: it.sku, ID: it.id, ParentID: it.parent})
		case it.sku == "":
			if it.container {
				continue
			}
			out = append(out, Issue{Kind: IssueEmptySKU, ID: it.id, ParentID: it.parent})
		case dups[it.sku] != nil:
			out = append(out, Issue{Kind: IssueDuplicateSKU, SKU: it.sku, ID: it.id, ParentID: it.parent})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.SKU != b.SKU {
			return a.SKU < b.SKU
		}
		return a.ID < b.ID
	})
	return out
}

// Found records what a read of the store by SKU showed: ps are every
// product and variation holding sku now (none when the store has no such
// SKU). Items the map held under sku and the read did not show are
// forgotten; the next scan or webhook says where they went.
func (m *Map) Found(sku string, ps []woo.Product) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[int64]bool{}
	for _, p := range ps {
		if p.SKU != sku || p.ID <= 0 {
			continue
		}
		seen[p.ID] = true
		it := m.itemOf(p)
		if old, ok := m.items[p.ID]; ok && it.variations == 0 {
			it.variations = old.variations // not among the fields a read by SKU asks for
		}
		m.put(it)
	}
	for _, id := range m.holders(sku) {
		if !seen[id] {
			m.drop(id)
		}
	}
}

// Holds reports whether the map holds p, a product or a variation as a
// webhook shows it, as it is: updating the map with p would change
// nothing.
func (m *Map) Holds(p woo.Product) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	old, ok := m.items[p.ID]
	return ok && *old == *m.itemOf(p)
}

// itemOf makes the item of p, a product or a variation, telling a
// variation's own SKU from its parent's. Caller holds mu.
func (m *Map) itemOf(p woo.Product) *item {
	isVar := p.Type == "variation" || p.ParentID != 0
	var parentSKU string
	if par, ok := m.items[p.ParentID]; ok && isVar {
		parentSKU = par.sku
	}
	return newItem(p, parentSKU, isVar)
}

func manages(raw json.RawMessage) bool {
	return string(raw) == "true"
}

func newItem(p woo.Product, parentSKU string, isVariation bool) *item {
	it := &item{id: p.ID, parent: p.ParentID, sku: p.SKU, manage: manages(p.ManageStock), variations: hashIDs(p.Variations),
		container: p.Type == "variable" || p.Type == "grouped"}
	if !isVariation && p.Type != "variation" {
		it.parent = 0
	}
	if it.parent != 0 && it.sku != "" && it.sku == parentSKU {
		it.inherited = true
	}
	return it
}

// Remove forgets a product (and its variations) or a variation, as a
// product.deleted webhook says.
func (m *Map) Remove(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeWithVariations(id)
}

// removeWithVariations drops id and the variations of id. Caller holds mu.
func (m *Map) removeWithVariations(id int64) {
	for vid, x := range m.items {
		if x.parent == id {
			m.drop(vid)
		}
	}
	m.drop(id)
}

// put replaces the item with it. Caller holds mu.
func (m *Map) put(it *item) {
	m.touch(it.id)
	m.set(it)
}

// drop removes item id. Caller holds mu.
func (m *Map) drop(id int64) {
	m.touch(id) // even when absent: the running scan may have read it
	m.unset(id)
}

// touch records, while a scan runs, that id changed after the scan began.
// Caller holds mu.
func (m *Map) touch(id int64) {
	if m.touched != nil {
		m.touched[id] = struct{}{}
	}
}

// set replaces the item with it. Caller holds mu.
func (m *Map) set(it *item) {
	m.unset(it.id)
	m.items[it.id] = it
	if it.sku != "" && !it.inherited {
		addHolder(m.skus, m.dups, it.sku, it.id)
	}
}

// unset removes item id. Caller holds mu.
func (m *Map) unset(id int64) {
	old, ok := m.items[id]
	if !ok {
		return
	}
	delete(m.items, id)
	if old.sku == "" || old.inherited {
		return
	}
	removeHolder(m.skus, m.dups, old.sku, id)
}

// holders returns the ids holding sku as their own SKU. Caller holds mu.
func (m *Map) holders(sku string) []int64 {
	if ids, ok := m.dups[sku]; ok {
		return slices.Clone(ids)
	}
	if id, ok := m.skus[sku]; ok {
		return []int64{id}
	}
	return nil
}

// addHolder records that item id holds sku.
func addHolder(skus map[string]int64, dups map[string][]int64, sku string, id int64) {
	if ids, ok := dups[sku]; ok {
		dups[sku] = append(ids, id)
		return
	}
	if other, ok := skus[sku]; ok {
		delete(skus, sku)
		dups[sku] = []int64{other, id}
		return
	}
	skus[sku] = id
}

// removeHolder records that item id no longer holds sku.
func removeHolder(skus map[string]int64, dups map[string][]int64, sku string, id int64) {
	ids, ok := dups[sku]
	if !ok {
		if skus[sku] == id {
			delete(skus, sku)
		}
		return
	}
	ids = slices.DeleteFunc(slices.Clone(ids), func(x int64) bool { return x == id })
	if len(ids) == 1 {
		delete(dups, sku)
		skus[sku] = ids[0]
		return
	}
	dups[sku] = ids
}

// hashIDs is an FNV-1a hash of ids, 0 for none.
func hashIDs(ids []int64) uint32 {
	if len(ids) == 0 {
		return 0
	}
	h := fnv.New32a()
	var b [8]byte
	for _, id := range ids {
		binary.LittleEndian.PutUint64(b[:], uint64(id))
		h.Write(b[:])
	}
	return h.Sum32()
}

// scanStarted starts recording what the scan reads and what changes
// meanwhile.
func (m *Map) scanStarted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touched = map[int64]struct{}{}
	m.scannedIDs = make([]int64, 0, len(m.items))
}

// scanned applies items a running scan read, except those changed since
// it began. An item equal to the one in the map is left in place.
func (m *Map) scanned(items []*item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range items {
		m.scannedIDs = append(m.scannedIDs, it.id)
		if _, ok := m.touched[it.id]; ok {
			continue
		}
		if old, ok := m.items[it.id]; !ok || *old != *it {
			m.set(it)
		}
	}
}

// scanFailed stops recording; the map keeps what the scan applied, as
// current as anything in it.
func (m *Map) scanFailed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touched, m.scannedIDs = nil, nil
}

// scanDone forgets the items the finished scan did not read and nothing
// put since it began, marks the map complete and returns the issues.
func (m *Map) scanDone() []Issue {
	m.mu.Lock()
	defer m.mu.Unlock()
	slices.Sort(m.scannedIDs)
	for id := range m.items {
		if _, ok := m.touched[id]; ok {
			continue
		}
		if _, ok := slices.BinarySearch(m.scannedIDs, id); !ok {
			m.unset(id)
		}
	}
	m.complete, m.touched, m.scannedIDs = true, nil, nil
	return issues(m.items, m.dups)
}
