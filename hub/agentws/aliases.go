package agentws

import (
	"github.com/coder/websocket"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/wire"
)

// A store may name some of the hub's SKUs its own way (hub.SKUAlias). The
// session translates at the link: stock changes, snapshots and reclaims go
// out under the store's names, and order reports, store edits and
// releases come in under the hub's, so that neither the hub's stock nor
// the agent knows of aliases. A change of the aliases starts the store's
// sequence over in a new epoch, and the session with it.

// skuNames translates between the hub's SKUs and a store's names. The zero
// value translates nothing.
type skuNames struct {
	toStore map[string]string // hub SKU → store SKU
	toHub   map[string]string // store SKU → hub SKU
}

func newSKUNames(aliases []hub.SKUAlias) skuNames {
	if len(aliases) == 0 {
		return skuNames{}
	}
	n := skuNames{toStore: make(map[string]string, len(aliases)), toHub: make(map[string]string, len(aliases))}
	for _, a := range aliases {
		n.toStore[a.SKU], n.toHub[a.StoreSKU] = a.StoreSKU, a.SKU
	}
	return n
}

// store is the store's name for the hub's sku.
func (n skuNames) store(sku string) string {
	if s, ok := n.toStore[sku]; ok {
		return s
	}
	return sku
}

// hub is the hub's SKU for the store's name.
func (n skuNames) hub(storeSKU string) string {
	if s, ok := n.toHub[storeSKU]; ok {
		return s
	}
	return storeSKU
}

// changes renames the changes' SKUs for the store, in place.
func (n skuNames) changes(cs []wire.Change) []wire.Change {
	if n.toStore == nil {
		return cs
	}
	for i := range cs {
		cs[i].SKU = n.store(cs[i].SKU)
	}
	return cs
}

// targets returns the targets under the store's names.
func (n skuNames) targets(t map[string]int64) map[string]int64 {
	if n.toStore == nil {
		return t
	}
	out := make(map[string]int64, len(t))
	for sku, v := range t {
		out[n.store(sku)] = v
	}
	return out
}

// loadNames reads the store's aliases; false when the session stopped.
func (ss *session) loadNames() bool {
	as, ok := ss.srv.Stores.(hub.SKUAliasService)
	if !ok {
		return true
	}
	aliases, err := as.Aliases(ss.ctx, ss.store.ID)
	if err != nil {
		if ss.ctx.Err() == nil {
			ss.logger.Error("read SKU aliases", "error", err)
			ss.stop("error", websocket.StatusInternalError, "internal error")
		}
		return false
	}
	ss.names = newSKUNames(aliases)
	return true
}
