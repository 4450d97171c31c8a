// Saving and loading a store's state, so the woosim command keeps its
// catalog across restarts.

package woosim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is what SaveState writes: the whole catalog, orders and
// webhooks, the id sequences and the main key.
type stateFile struct {
	ConsumerKey    string     `json:"consumer_key"`
	ConsumerSecret string     `json:"consumer_secret"`
	NextID         int64      `json:"next_id"`
	NextItem       int64      `json:"next_item"`
	NextMeta       int64      `json:"next_meta"`
	NextNote       int64      `json:"next_note"`
	Products       []*product `json:"products"`
	TopIDs         []int64    `json:"top_ids"`
	Orders         []*order   `json:"orders"`
	OrderIDs       []int64    `json:"order_ids"`
	Webhooks       []*webhook `json:"webhooks"`
}

// SaveState writes the store's state to path (mode 0600: it holds the
// keys and webhook secrets), atomically.
func (s *Store) SaveState(path string) error {
	s.mu.Lock()
	st := stateFile{ConsumerKey: s.opts.ConsumerKey, ConsumerSecret: s.opts.ConsumerSecret,
		NextID: s.nextID, NextItem: s.nextItem, NextMeta: s.nextMeta, NextNote: s.nextNote, TopIDs: s.topIDs, OrderIDs: s.orderIDs}
	for _, p := range s.products {
		st.Products = append(st.Products, p)
	}
	for _, o := range s.orders {
		st.Orders = append(st.Orders, o)
	}
	for _, w := range s.webhooks {
		st.Webhooks = append(st.Webhooks, w)
	}
	b, err := json.Marshal(st)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".woosim-state-*")
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	return nil
}

// LoadState replaces the store's state with the one saved at path; a
// missing file is not an error (ok is false). The saved main key is kept
// when the store's own key was generated rather than given.
func (s *Store) LoadState(path string) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load state %s: %w", path, err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("load state %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generatedKey && st.ConsumerKey != "" {
		s.nonceMu.Lock()
		delete(s.keys, hashKey(s.opts.ConsumerKey))
		s.keys[hashKey(st.ConsumerKey)] = apiKey{secret: st.ConsumerSecret, perms: PermReadWrite}
		s.nonceMu.Unlock()
		s.opts.ConsumerKey, s.opts.ConsumerSecret = st.ConsumerKey, st.ConsumerSecret
	}
	s.nextID, s.nextItem, s.nextMeta, s.nextNote = st.NextID, st.NextItem, st.NextMeta, st.NextNote
	s.products = make(map[int64]*product, len(st.Products))
	s.skus = make(map[string]int64, len(st.Products))
	s.topTrashed, s.topOrdered = 0, true
	for _, p := range st.Products {
		s.products[p.ID] = p
		if p.SKU != "" && p.Status != "trash" {
			s.skus[p.SKU] = p.ID
		}
		if p.ParentID == 0 && p.Status == "trash" {
			s.topTrashed++
		}
	}
	s.topIDs = st.TopIDs
	for i := 1; i < len(s.topIDs); i++ {
		if s.products[s.topIDs[i-1]].Created.After(s.products[s.topIDs[i]].Created) {
			s.topOrdered = false
		}
	}
	s.orders = make(map[int64]*order, len(st.Orders))
	for _, o := range st.Orders {
		s.orders[o.ID] = o
	}
	s.orderIDs = st.OrderIDs
	s.webhooks = make(map[int64]*webhook, len(st.Webhooks))
	for _, w := range st.Webhooks {
		s.webhooks[w.ID] = w
	}
	return true, nil
}
