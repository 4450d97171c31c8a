package hubapi

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes of the API's error answers.
const (
	CodeInvalid          = "invalid"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeUnprocessable    = "unprocessable"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
	// CodeTooManyRequests answers a client address with too many failed
	// authentications (429, with Retry-After).
	CodeTooManyRequests = "too_many_requests"
)

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Field names the input at fault; Lines
// lists the bad lines of a CSV import.
type ErrorDetail struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Field   string      `json:"field,omitempty"`
	Lines   []LineError `json:"lines,omitempty"`
}

// LineError is one bad line of a CSV import.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Error is an error answer of the API, as the client returns it.
type Error struct {
	Code    string
	Message string
	Field   string
	Lines   []LineError
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code + ": " + e.Message)
	if e.Field != "" {
		b.WriteString(" (" + e.Field + ")")
	}
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "\n  line %d: %s", l.Line, l.Message)
	}
	return b.String()
}

// ErrorCode returns the code of the *Error in err's chain, "" when there is
// none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
