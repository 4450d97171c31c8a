package hub

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Token prefixes: an agent credential, an enrolment (join) token and a
// generated admin token each start with their own, so that one is never
// mistaken for another.
const (
	StoreCredentialPrefix = "swa_"
	JoinTokenPrefix       = "swj_"
	AdminTokenPrefix      = "swadm_"
)

// IsStoreCredential reports whether tok has the form of an agent
// credential.
func IsStoreCredential(tok string) bool {
	return len(tok) > len(StoreCredentialPrefix) && strings.HasPrefix(tok, StoreCredentialPrefix)
}

// MinAdminTokenLen is the shortest admin token the hub accepts, in
// characters.
const MinAdminTokenLen = 16

// ValidateAdminToken returns EINVALID unless tok can be the admin token: at
// least MinAdminTokenLen characters, valid UTF-8 without spaces or control
// characters (it travels in an Authorization header). The message never
// repeats the token.
func ValidateAdminToken(tok string) error {
	switch {
	case utf8.RuneCountInString(tok) < MinAdminTokenLen:
		return FieldErrorf("admin_token", EINVALID, "The admin token must be at least %d characters long.", MinAdminTokenLen)
	case !utf8.ValidString(tok) || strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return FieldErrorf("admin_token", EINVALID, "The admin token must be valid text without spaces or control characters.")
	}
	return nil
}

// MaxNameBytes bounds a SKU, a location or store name and an idempotency
// key.
const MaxNameBytes = 200

// ValidateName returns EINVALID naming field unless v is a usable SKU,
// location or store name: not empty, without leading or trailing spaces or
// control characters, valid UTF-8 of at most MaxNameBytes.
func ValidateName(field, v string) error {
	switch {
	case v == "":
		return FieldErrorf(field, EINVALID, "%s is required.", field)
	case strings.TrimSpace(v) != v:
		return FieldErrorf(field, EINVALID, "%s must not start or end with spaces.", field)
	case !utf8.ValidString(v) || len(v) > MaxNameBytes:
		return FieldErrorf(field, EINVALID, "%s must be valid text of at most %d bytes.", field, MaxNameBytes)
	case strings.ContainsAny(v, "\x00\r\n\t"):
		return FieldErrorf(field, EINVALID, "%s must not contain control characters.", field)
	}
	return nil
}

// ValidateURL returns EINVALID naming field unless v is an absolute http or
// https URL of at most 2,000 bytes.
func ValidateURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(v) > 2000 {
		return FieldErrorf(field, EINVALID, "%s must be an absolute http or https URL.", field)
	}
	return nil
}

// ValidateIdempotencyKey returns EINVALID unless key (optional) is at most
// MaxNameBytes long.
func ValidateIdempotencyKey(key string) error {
	if len(key) > MaxNameBytes {
		return FieldErrorf("idempotency_key", EINVALID, "idempotency_key must be at most %d bytes.", MaxNameBytes)
	}
	return nil
}

// Validate returns EINVALID naming the first bad field: the name, an URL
// that is not absolute http or https, a policy other than mirror or
// allocate (empty means mirror), a negative buffer or bad allocate
// parameters.
func (s NewStore) Validate() error {
	if err := ValidateName("name", s.Name); err != nil {
		return err
	}
	if err := ValidateURL("url", s.URL); err != nil {
		return err
	}
	if s.Policy != "" && !s.Policy.Valid() {
		return FieldErrorf("policy", EINVALID, "policy must be %q or %q.", PolicyMirror, PolicyAllocate)
	}
	if s.Buffer < 0 {
		return FieldErrorf("buffer", EINVALID, "buffer must not be negative.")
	}
	if s.Allocation != nil {
		return s.Allocation.Validate()
	}
	return nil
}
