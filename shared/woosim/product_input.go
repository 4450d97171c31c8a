// Product input: what product and variation writes accept, and the checks
// the REST schema and set_sku make before anything changes.

package woosim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// productInput is what create/update accept.
type productInput struct {
	ID             *int64          `json:"id"`
	Name           *string         `json:"name"`
	SKU            *string         `json:"sku"`
	Type           *string         `json:"type"`
	Status         *string         `json:"status"`
	RegularPrice   *string         `json:"regular_price"`
	ManageStock    json.RawMessage `json:"manage_stock"`
	StockQuantity  json.RawMessage `json:"stock_quantity"`
	InventoryDelta json.RawMessage `json:"inventory_delta"`
	StockStatus    *string         `json:"stock_status"`
	Backorders     *string         `json:"backorders"`
	LowStockAmount json.RawMessage `json:"low_stock_amount"`
	MetaData       []metaInput     `json:"meta_data"`
	Attributes     []attribute     `json:"attributes"`
}

type metaInput struct {
	ID    int64           `json:"id"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (in *productInput) changesStock() bool {
	return len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" ||
		len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" ||
		len(in.ManageStock) > 0
}

func parseBool(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		switch str {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no", "":
			return false, nil
		}
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n != 0, nil
	}
	return false, fmt.Errorf("not a boolean: %s", raw)
}

func parseInt(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var str string
		if err2 := json.Unmarshal(raw, &str); err2 != nil {
			return 0, fmt.Errorf("not a number: %s", raw)
		}
		n = json.Number(strings.TrimSpace(str))
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, fmt.Errorf("not a number: %s", raw)
	}
	return int64(f), nil
}

// validateProductInput checks what the REST schema checks before anything
// changes.
func validateProductInput(in *productInput) *apiErr {
	if in.Type != nil {
		switch *in.Type {
		case "simple", "variable", "grouped", "external":
		default:
			return invalidParam("type", "type is not one of simple, grouped, external, and variable.")
		}
	}
	if in.Status != nil {
		switch *in.Status {
		case "draft", "pending", "private", "publish", "future", "trash":
		default:
			return invalidParam("status", "status is not one of draft, pending, private, publish, and future.")
		}
	}
	if in.Backorders != nil {
		switch *in.Backorders {
		case "no", "notify", "yes":
		default:
			return invalidParam("backorders", "backorders is not one of no, notify, and yes.")
		}
	}
	if len(in.ManageStock) > 0 {
		if _, err := parseBool(in.ManageStock); err != nil {
			return invalidParam("manage_stock", "manage_stock is not of type boolean.")
		}
	}
	if len(in.StockQuantity) > 0 && string(in.StockQuantity) != "null" {
		if _, err := parseInt(in.StockQuantity); err != nil {
			return invalidParam("stock_quantity", "stock_quantity is not of type integer.")
		}
	}
	if len(in.InventoryDelta) > 0 && string(in.InventoryDelta) != "null" {
		if _, err := parseInt(in.InventoryDelta); err != nil {
			return invalidParam("inventory_delta", "inventory_delta is not of type integer.")
		}
	}
	for _, m := range in.MetaData {
		if m.Key == "" && m.ID == 0 {
			return invalidParam("meta_data", "meta_data[0][key] is a required property of meta_data[0].")
		}
	}
	return nil
}

// checkSKU reports a duplicate as WooCommerce's set_sku does.
func (s *Store) checkSKU(sku string, self int64) *apiErr {
	if sku == "" {
		return nil
	}
	if other, ok := s.skus[sku]; ok && other != self {
		e := newErr(400, "product_invalid_sku", "Invalid or duplicated SKU.")
		uniq := sku
		for i := 1; ; i++ {
			uniq = sku + "-" + strconv.Itoa(i)
			if _, taken := s.skus[uniq]; !taken {
				break
			}
		}
		e.Data = map[string]any{"resource_id": other, "unique_sku": uniq}
		return e
	}
	return nil
}
