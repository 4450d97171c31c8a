package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// statusByCode maps hub error codes to HTTP statuses: the one table.
var statusByCode = map[string]int{
	hub.EINVALID:       http.StatusBadRequest,
	hub.EUNAUTHORIZED:  http.StatusUnauthorized,
	hub.EFORBIDDEN:     http.StatusForbidden,
	hub.ENOTFOUND:      http.StatusNotFound,
	hub.ECONFLICT:      http.StatusConflict,
	hub.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	hub.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	hub.EINTERNAL:      http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for a hub error code.
func ErrorStatus(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// linesError carries the bad lines of an import as a 422.
type linesError struct {
	Lines []hubapi.LineError
}

func (e *linesError) Error() string { return "bad import lines" }

// writeError renders err. An error without a code is logged with its detail
// and shown as "Internal error.".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var d hubapi.ErrorDetail
	var le *linesError
	var he *hub.Error
	switch {
	case errors.As(err, &le):
		d = hubapi.ErrorDetail{Code: hub.EUNPROCESSABLE, Message: "The import has bad lines; nothing was changed.", Lines: le.Lines}
	case errors.As(err, &he) && he.Code != hub.EINTERNAL:
		d = hubapi.ErrorDetail{Code: he.Code, Message: he.Message, Field: he.Field}
	default:
		s.Logger.Error("http request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		d = hubapi.ErrorDetail{Code: hub.EINTERNAL, Message: "Internal error."}
	}
	writeJSON(w, ErrorStatus(d.Code), hubapi.ErrorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
