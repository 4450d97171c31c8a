package web

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/stockwire/stockwire/hub"
)

// decodeJSON reads exactly one JSON object of at most s.MaxJSONBytes into v,
// rejecting unknown fields, wrong types (naming the field) and trailing data.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeFrom(http.MaxBytesReader(w, r.Body, s.MaxJSONBytes), v)
}

// decodeOptionalJSON is decodeJSON for a body that may be left out: given
// is false for an empty body (or one of white space only).
func (s *Server) decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) (given bool, err error) {
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, s.MaxJSONBytes))
	for {
		b, err := body.ReadByte()
		if err == io.EOF {
			return false, nil
		} else if err != nil {
			return false, jsonError(err)
		}
		if !unicode.IsSpace(rune(b)) {
			if err := body.UnreadByte(); err != nil {
				return false, err
			}
			return true, decodeFrom(body, v)
		}
	}
}

// decodeFrom decodes one JSON object from body into v, as decodeJSON.
func decodeFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			if e := jsonError(err); hub.ErrorCode(e) == hub.ETOOLARGE {
				return e
			}
		}
		return hub.Errorf(hub.EINVALID, "Request body must hold a single JSON object, with nothing after it.")
	}
	return nil
}

// isWholeNumber reports whether s is a JSON integer literal: one that failed
// to decode into an integer field was too large for it.
func isWholeNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jsonError turns a decoding error into a user-facing hub.Error.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return hub.Errorf(hub.ETOOLARGE, "Request body is larger than %d bytes.", mbe.Limit)
	case errors.As(err, &ute):
		field := ute.Field
		if strings.HasPrefix(ute.Type.String(), "int") {
			if isWholeNumber(strings.TrimPrefix(ute.Value, "number ")) {
				return hub.FieldErrorf(field, hub.EINVALID, "%s is out of range.", field)
			}
			return hub.FieldErrorf(field, hub.EINVALID, "%s must be an integer.", field)
		}
		return hub.FieldErrorf(field, hub.EINVALID, "%s must be of type %s.", field, jsonTypeName(ute.Type.String()))
	case errors.As(err, &se):
		return hub.Errorf(hub.EINVALID, "Request body is not valid JSON (at byte %d).", se.Offset)
	case errors.Is(err, io.EOF):
		return hub.Errorf(hub.EINVALID, "Request body is empty; a JSON object is required.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hub.Errorf(hub.EINVALID, "Request body is truncated JSON.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return hub.FieldErrorf(field, hub.EINVALID, "Unknown field %q.", field)
	}
	return hub.Errorf(hub.EINVALID, "Request body is not valid JSON.")
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "string"
	case strings.HasPrefix(goType, "int"):
		return "integer"
	}
	return "object"
}

// requireNonNegative checks a required non-negative integer field.
func requireNonNegative(field string, v *int64) (int64, error) {
	if v == nil {
		return 0, hub.FieldErrorf(field, hub.EINVALID, "%s is required.", field)
	}
	if *v < 0 {
		return 0, hub.FieldErrorf(field, hub.EINVALID, "%s must not be negative.", field)
	}
	return *v, nil
}

// page reads ?after=&limit= (limit defaults to DefaultLimit, at most MaxLimit).
func (s *Server) page(r *http.Request) (hub.Page, error) {
	p := hub.Page{After: r.URL.Query().Get("after"), Limit: s.DefaultLimit}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.MaxLimit {
			return p, hub.FieldErrorf("limit", hub.EINVALID, "limit must be an integer from 1 to %d.", s.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// pathID parses a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id < 1 {
		return 0, hub.FieldErrorf(name, hub.EINVALID, "%s must be a positive integer.", name)
	}
	return id, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}
