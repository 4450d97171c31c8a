// Reading a product without decoding it: the agent uses a handful of its
// fields, and a WooCommerce product carries a hundred (descriptions,
// prices, images, attributes, _links). Every stock write answers with the
// whole products written, and every write comes back as a product.updated
// webhook (agent/webhook), so the scan below, not encoding/json, reads
// them (issue 16).

package wooclient

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/stockwire/stockwire/shared/woo"
)

// OwnMetaPrefix starts the keys of the product meta the agent writes
// (stockwire_seq and the like): the only meta ScanProduct keeps.
const OwnMetaPrefix = "stockwire_"

// errSyntax is returned for a body that is not a JSON object as far as the
// scan read it.
var errSyntax = errors.New("product body: invalid JSON")

// errNumber is returned for an id or a stock figure that is not an
// integer of at most 18 digits.
var errNumber = errors.New("product body: want an integer")

// ScanProduct reads from a product or variation payload what the agent
// uses: id, parent_id, sku, type, status, manage_stock, stock_quantity,
// variations, and the meta whose key starts with OwnMetaPrefix. It skips
// every other value without decoding it (nor checking its syntax beyond
// the brackets and strings needed to find its end), so a delivery costs
// no allocation but for the fields kept. Only signed bodies reach it.
func ScanProduct(body []byte) (woo.Product, error) {
	var p woo.Product
	s := scanner{b: body}
	more, err := s.enter('{')
	for more && err == nil {
		var key []byte
		if key, err = s.key(); err != nil {
			break
		}
		switch string(key) {
		case "id":
			p.ID, err = s.int()
		case "parent_id":
			p.ParentID, err = s.int()
		case "sku":
			p.SKU, err = s.string(nil)
		case "type":
			p.Type, err = s.string(productTypes)
		case "status":
			p.Status, err = s.string(productStatuses)
		case "manage_stock":
			var raw []byte
			raw, err = s.value()
			p.ManageStock = bytes.Clone(raw)
		case "stock_quantity":
			p.StockQuantity = nil
			if s.next() != 'n' {
				var q int64
				q, err = s.int()
				p.StockQuantity = &q
			} else {
				_, err = s.value()
			}
		case "variations":
			p.Variations, err = s.ints(p.Variations[:0])
		case "meta_data":
			p.MetaData, err = s.ownMeta(p.MetaData[:0])
		default:
			_, err = s.value()
		}
		if err == nil {
			more, err = s.more('}')
		}
	}
	if err != nil {
		return woo.Product{}, err
	}
	if s.ws(); s.i != len(s.b) {
		return woo.Product{}, errSyntax
	}
	return p, nil
}

// ownMeta reads a meta_data array (null reads as none), appending to out
// the entries whose key starts with OwnMetaPrefix.
func (s *scanner) ownMeta(out []woo.MetaData) ([]woo.MetaData, error) {
	if s.next() == 'n' {
		_, err := s.value()
		return nil, err
	}
	more, err := s.enter('[')
	for more && err == nil {
		var id int64
		var key, value []byte
		var entry bool
		entry, err = s.enter('{')
		for entry && err == nil {
			var name []byte
			if name, err = s.key(); err != nil {
				break
			}
			switch string(name) {
			case "id":
				id, err = s.int()
			case "key":
				key, err = s.value()
			case "value":
				value, err = s.value()
			default:
				_, err = s.value()
			}
			if err == nil {
				entry, err = s.more('}')
			}
		}
		if err != nil {
			return nil, err
		}
		// Only the agent's own keys are read, and they have no escapes.
		if bytes.HasPrefix(key, []byte(`"`+OwnMetaPrefix)) {
			var k string
			if k, err = s.decodeString(key, nil); err != nil {
				return nil, err
			}
			out = append(out, woo.MetaData{ID: id, Key: k, Value: bytes.Clone(value)})
		}
		more, err = s.more(']')
	}
	return out, err
}

// ints reads an array of integers (null reads as none), appending them to
// out.
func (s *scanner) ints(out []int64) ([]int64, error) {
	if s.next() == 'n' {
		_, err := s.value()
		return nil, err
	}
	more, err := s.enter('[')
	for more && err == nil {
		var n int64
		if n, err = s.int(); err == nil {
			out = append(out, n)
			more, err = s.more(']')
		}
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []int64{}
	}
	return out, nil
}

// productTypes and productStatuses are the values of type and status
// that WooCommerce defines: reading them allocates nothing.
var (
	productTypes    = []string{"simple", "variable", "variation", "grouped", "external"}
	productStatuses = []string{"publish", "draft", "pending", "private", "future", "trash"}
)

// batchAnswer is the answer to a batch update: {"update":[...]}, each
// item the product written or {"id":…,"error":{…}}. It reads the products
// with ScanProduct.
type batchAnswer struct {
	Update []batchItem
}

func (b *batchAnswer) decodeAnswer(body []byte) error {
	s := scanner{b: body}
	more, err := s.enter('{')
	for more && err == nil {
		var key []byte
		if key, err = s.key(); err != nil {
			break
		}
		if string(key) != "update" {
			_, err = s.value()
		} else {
			b.Update, err = s.batchItems(b.Update[:0])
		}
		if err == nil {
			more, err = s.more('}')
		}
	}
	if err != nil {
		return err
	}
	if s.ws(); s.i != len(s.b) {
		return errSyntax
	}
	return nil
}

// batchItems reads the items of a batch answer, appending them to out.
func (s *scanner) batchItems(out []batchItem) ([]batchItem, error) {
	more, err := s.enter('[')
	for more && err == nil {
		var raw []byte
		if raw, err = s.value(); err != nil {
			break
		}
		var it batchItem
		// Only an item with an "error" key is a refusal; a product saying
		// "error" somewhere in its text is read twice, nothing worse.
		if bytes.Contains(raw, []byte(`"error"`)) {
			var refusal struct {
				ID    int64         `json:"id"`
				Error *woo.APIError `json:"error"`
			}
			if err = json.Unmarshal(raw, &refusal); err != nil {
				break
			}
			it.ID, it.Error = refusal.ID, refusal.Error
		}
		if it.Error == nil {
			if it.Product, err = ScanProduct(raw); err != nil {
				break
			}
		}
		out = append(out, it)
		more, err = s.more(']')
	}
	return out, err
}

// scanner walks a JSON text. Each method starts at the next value
// (whitespace allowed) and leaves i just past it.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte (0 at the end).
func (s *scanner) next() byte {
	if s.ws(); s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// enter reads the opening bracket of an object or array, and tells
// whether an element follows (false for an empty one, its closing bracket
// read).
func (s *scanner) enter(open byte) (bool, error) {
	if s.next() != open {
		return false, errSyntax
	}
	s.i++
	if c := s.next(); c == '}' || c == ']' {
		s.i++
		return false, nil
	}
	return true, nil
}

// more reads what follows an element: a comma (true) or the closing
// bracket (false).
func (s *scanner) more(close byte) (bool, error) {
	switch s.next() {
	case ',':
		s.i++
		return true, nil
	case close:
		s.i++
		return false, nil
	}
	return false, errSyntax
}

// key reads an object's key and its colon. The key is raw, escapes left
// as they are: the keys the agent reads have none.
func (s *scanner) key() ([]byte, error) {
	raw, err := s.rawString()
	if err != nil {
		return nil, err
	}
	if s.next() != ':' {
		return nil, errSyntax
	}
	s.i++
	return raw[1 : len(raw)-1], nil
}

// rawString returns the next string with its quotes, escapes undone
// nowhere.
func (s *scanner) rawString() ([]byte, error) {
	if s.next() != '"' {
		return nil, errSyntax
	}
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.b[start:s.i], nil
		}
	}
	return nil, errSyntax
}

// value skips the next value and returns its raw text.
func (s *scanner) value() ([]byte, error) {
	switch c := s.next(); c {
	case '"':
		return s.rawString()
	case '{', '[':
		start, depth := s.i, 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.rawString(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			}
			s.i++
		}
		return nil, errSyntax
	case 0:
		return nil, errSyntax
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i], nil
			}
			s.i++
		}
		return s.b[start:s.i], nil
	}
}

// int reads an integer (null reads as 0, as encoding/json leaves it).
func (s *scanner) int() (int64, error) {
	raw, err := s.value()
	if err != nil || string(raw) == "null" {
		return 0, err
	}
	neg := len(raw) > 0 && raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, errNumber
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errNumber
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// string reads a string, undoing escapes when it has any (null reads as
// ""). A value in known is returned without allocating.
func (s *scanner) string(known []string) (string, error) {
	raw, err := s.value()
	if err != nil || string(raw) == "null" {
		return "", err
	}
	return s.decodeString(raw, known)
}

// decodeString decodes raw, a string with its quotes.
func (s *scanner) decodeString(raw []byte, known []string) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", errSyntax
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		raw = raw[1 : len(raw)-1]
		for _, k := range known {
			if string(raw) == k {
				return k, nil
			}
		}
		return string(raw), nil
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return v, err
}
