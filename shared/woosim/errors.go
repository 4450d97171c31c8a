// Errors: WooCommerce's error answer and the sentinels callers test with
// errors.Is.

package woosim

import "errors"

// ErrOutOfStock is returned by Checkout when a line lacks stock.
var ErrOutOfStock = errors.New("out of stock")

// ErrNotFound is returned by helpers given an unknown SKU or id.
var ErrNotFound = errors.New("not found")

// errInvalid is returned by Checkout and SetOrderStatus given input the
// store refuses (no lines, a bad quantity, an unknown status).
var errInvalid = errors.New("invalid")

// apiErr is a WooCommerce error answer.
type apiErr struct {
	Status  int
	Code    string
	Message string
	Data    map[string]any
}

func (e *apiErr) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, msg string) *apiErr {
	return &apiErr{Status: status, Code: code, Message: msg}
}

func (e *apiErr) body() map[string]any {
	data := map[string]any{"status": e.Status}
	for k, v := range e.Data {
		data[k] = v
	}
	return map[string]any{"code": e.Code, "message": e.Message, "data": data}
}

func invalidParam(name, msg string) *apiErr {
	e := newErr(400, "rest_invalid_param", "Invalid parameter(s): "+name)
	e.Data = map[string]any{"params": map[string]string{name: msg},
		"details": map[string]any{name: map[string]any{"code": "rest_invalid_type", "message": msg, "data": nil}}}
	return e
}
