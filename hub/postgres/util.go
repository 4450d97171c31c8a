package postgres

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/stockwire/stockwire/hub"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func isUniqueViolation(err error) bool {
	var pqe *pq.Error
	return errors.As(err, &pqe) && pqe.Code.Name() == "unique_violation"
}

// newToken returns a random 32-byte token with prefix, in clear, and its
// SHA-256 hex hash, the only form stored.
func newToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// checkName validates a SKU, location or store name.
func checkName(field, v string) error {
	switch {
	case v == "":
		return hub.FieldErrorf(field, hub.EINVALID, "%s is required.", field)
	case strings.TrimSpace(v) != v:
		return hub.FieldErrorf(field, hub.EINVALID, "%s must not start or end with spaces.", field)
	case !utf8.ValidString(v) || len(v) > 200:
		return hub.FieldErrorf(field, hub.EINVALID, "%s must be valid text of at most 200 bytes.", field)
	case strings.ContainsAny(v, "\x00\r\n\t"):
		return hub.FieldErrorf(field, hub.EINVALID, "%s must not contain control characters.", field)
	}
	return nil
}
