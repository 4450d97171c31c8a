package systest_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stockwire/stockwire/shared/systest"
)

func TestBinaries_EveryCommandOnce(t *testing.T) {
	dir := systest.Binaries(t)
	for _, name := range []string{"hub", "agent", "woosim", "stockwire-demo", "linkbench"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("no %s binary: %v", name, err)
		}
	}
	// The cache holds this one set, named by its hash, and the lock.
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(dir), "lock"}; !slices.Equal(names, want) && !slices.Equal(names, []string{"lock", filepath.Base(dir)}) {
		t.Errorf("cache holds %v, want %v", names, want)
	}
}

func TestStartWoosim_SeedsAndSells(t *testing.T) {
	w := systest.StartWoosim(t, systest.WoosimOptions{ConsumerKey: "ck_" + zeros, ConsumerSecret: "cs_" + zeros, Products: 3, Stock: 1})
	skus := w.SKUs()
	if len(skus) != 3 {
		t.Fatalf("SKUs %v, want 3", skus)
	}
	if err := w.Checkout(skus[0], 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Checkout(skus[0], 1); err == nil {
		t.Fatal("a second checkout of the one unit was accepted")
	}
	if err := w.AdminEdit(skus[0], 5); err != nil {
		t.Fatal(err)
	}
	if err := w.Checkout(skus[0], 1); err != nil {
		t.Fatalf("checkout after the admin edit: %v", err)
	}
}

const zeros = "0000000000000000000000000000000000000000"
