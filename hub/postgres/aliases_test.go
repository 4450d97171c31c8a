package postgres_test

import (
	"testing"

	"github.com/stockwire/stockwire/hub"
)

func TestStoreService_Aliases(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	st := e.MustStore(t, "a", 0)
	for _, bad := range [][]hub.SKUAlias{
		{{StoreSKU: "", SKU: "MUG"}},
		{{StoreSKU: "M1", SKU: "MUG"}, {StoreSKU: "M1", SKU: "CUP"}},
		{{StoreSKU: "M1", SKU: "MUG"}, {StoreSKU: "M2", SKU: "MUG"}},
	} {
		wantCode(t, e.stores.SetAliases(t.Context(), st.ID, bad), hub.EINVALID)
	}
	wantCode(t, e.stores.SetAliases(t.Context(), 9999, nil), hub.ENOTFOUND)

	before, err := e.stores.Store(t.Context(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.stores.SetAliases(t.Context(), st.ID, []hub.SKUAlias{{StoreSKU: "M1", SKU: "MUG"}, {StoreSKU: "C1", SKU: "CUP"}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.stores.Aliases(t.Context(), st.ID)
	if err != nil || len(got) != 2 || got[0] != (hub.SKUAlias{StoreSKU: "C1", SKU: "CUP"}) {
		t.Fatalf("aliases %+v, %v", got, err)
	}
	after, err := e.stores.Store(t.Context(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Epoch == before.Epoch {
		t.Fatal("the store's epoch did not change with its aliases: its agent would keep the old names")
	}
	// Replaced whole; a refused set changes nothing.
	wantCode(t, e.stores.SetAliases(t.Context(), st.ID, []hub.SKUAlias{{StoreSKU: "X", SKU: ""}}), hub.EINVALID)
	if got, _ := e.stores.Aliases(t.Context(), st.ID); len(got) != 2 {
		t.Fatalf("a refused set changed the aliases: %+v", got)
	}
	if err := e.stores.SetAliases(t.Context(), st.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.stores.Aliases(t.Context(), st.ID); len(got) != 0 {
		t.Fatalf("aliases %+v after clearing", got)
	}
}
