// The runner every …/batch endpoint shares: creates, updates and deletes in
// order, each item answered or given its error.

package woosim

import (
	"encoding/json"
	"net/http"
)

type batchBody struct {
	Create []json.RawMessage `json:"create"`
	Update []json.RawMessage `json:"update"`
	Delete []json.RawMessage `json:"delete"`
}

type batchError struct {
	ID    int64          `json:"id"`
	Error map[string]any `json:"error"`
}

func itemErr(id int64, e *apiErr) batchError {
	b := e.body()
	return batchError{ID: id, Error: b}
}

// batch runs a batch request with create/update/delete callbacks.
func (s *Store) batch(w http.ResponseWriter, q *request,
	create func(raw json.RawMessage) (any, *apiErr),
	update func(id int64, raw json.RawMessage) (any, *apiErr),
	del func(id int64) (any, *apiErr)) *apiErr {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(q.body, &present); err != nil {
		return newErr(400, "rest_invalid_json", "Invalid JSON body passed.")
	}
	var b batchBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return newErr(400, "rest_invalid_param", "Invalid parameter(s): create, update, delete")
	}
	if len(b.Create)+len(b.Update)+len(b.Delete) > 100 {
		return newErr(413, "woocommerce_rest_request_entity_too_large", "Unable to accept more than 100 items for this request.")
	}
	out := map[string][]any{}
	if _, ok := present["create"]; ok {
		out["create"] = []any{}
		for _, raw := range b.Create {
			v, e := create(raw)
			if e != nil {
				out["create"] = append(out["create"], itemErr(0, e))
			} else {
				out["create"] = append(out["create"], v)
			}
		}
	}
	if _, ok := present["update"]; ok {
		out["update"] = []any{}
		for _, raw := range b.Update {
			var idOnly struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(raw, &idOnly)
			id, err := parseInt(idOnly.ID)
			if err != nil || len(idOnly.ID) == 0 {
				id = 0
			}
			v, e := update(id, raw)
			if e != nil {
				out["update"] = append(out["update"], itemErr(id, e))
			} else {
				out["update"] = append(out["update"], v)
			}
		}
	}
	if _, ok := present["delete"]; ok {
		out["delete"] = []any{}
		for _, raw := range b.Delete {
			id, err := parseInt(raw)
			if err != nil {
				var obj struct {
					ID int64 `json:"id"`
				}
				_ = json.Unmarshal(raw, &obj)
				id = obj.ID
			}
			v, e := del(id)
			if e != nil {
				out["delete"] = append(out["delete"], itemErr(id, e))
			} else {
				out["delete"] = append(out["delete"], v)
			}
		}
	}
	s.apiLink(w)
	writeJSON(w, http.StatusOK, out)
	return nil
}
