package hub_test

import (
	"strings"
	"testing"

	"github.com/stockwire/stockwire/hub"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, v string
		ok      bool
	}{
		{"Plain", "TEE-M", true},
		{"InnerSpace", "Tee shirt M", true},
		{"Longest", strings.Repeat("x", hub.MaxNameBytes), true},
		{"TooLong", strings.Repeat("x", hub.MaxNameBytes+1), false},
		{"Empty", "", false},
		{"Spaces", "   ", false},
		{"EdgeSpace", " TEE", false},
		{"Tab", "TEE\tM", false},
		{"NotUTF8", "TEE\xff", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := hub.ValidateName("sku", tt.v)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateName(%q)=%v, want nil", tt.v, err)
				}
				return
			}
			if hub.ErrorCode(err) != hub.EINVALID {
				t.Fatalf("ValidateName(%q)=%v, want %s", tt.v, err, hub.EINVALID)
			}
			if he := err.(*hub.Error); he.Field != "sku" {
				t.Fatalf("field=%q, want sku", he.Field)
			}
		})
	}
}

func TestNewStore_Validate(t *testing.T) {
	t.Parallel()
	ok := hub.NewStore{Name: "eu", URL: "https://eu.example"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate=%v", err)
	}
	bad := hub.AllocationParams{MinGrant: 0}
	for _, tt := range []struct {
		name  string
		edit  func(*hub.NewStore)
		field string
	}{
		{"Name", func(s *hub.NewStore) { s.Name = strings.Repeat("n", hub.MaxNameBytes+1) }, "name"},
		{"URLScheme", func(s *hub.NewStore) { s.URL = "ftp://eu.example" }, "url"},
		{"URLNoHost", func(s *hub.NewStore) { s.URL = "https://" }, "url"},
		{"Policy", func(s *hub.NewStore) { s.Policy = "greedy" }, "policy"},
		{"Buffer", func(s *hub.NewStore) { s.Buffer = -1 }, "buffer"},
		{"Allocation", func(s *hub.NewStore) { s.Allocation = &bad }, "allocation.min_grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := ok
			tt.edit(&s)
			err := s.Validate()
			if he, _ := err.(*hub.Error); he == nil || he.Code != hub.EINVALID || he.Field != tt.field {
				t.Fatalf("Validate=%v, want %s naming %s", err, hub.EINVALID, tt.field)
			}
		})
	}
}

func TestValidateAdminToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, tok string
		ok        bool
	}{
		{"Sixteen", "0123456789abcdef", true},
		{"Generated", hub.AdminTokenPrefix + "abcdefghijklmnopqrstuvwxyz", true},
		{"SixteenRunes", strings.Repeat("é", 16), true},
		{"Fifteen", "0123456789abcde", false},
		{"FifteenRunesMoreBytes", strings.Repeat("é", 15), false},
		{"Empty", "", false},
		{"InnerSpace", "0123456789 abcdef", false},
		{"Newline", "0123456789abcdef\n", false},
		{"NotUTF8", "0123456789abcdef\xff", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := hub.ValidateAdminToken(tt.tok)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateAdminToken: %v", err)
				}
				return
			}
			if got, want := hub.ErrorCode(err), hub.EINVALID; got != want {
				t.Fatalf("code=%q (%v), want %q", got, err, want)
			}
			if tt.tok != "" && strings.Contains(hub.ErrorMessage(err), tt.tok) {
				t.Fatalf("message %q repeats the token", hub.ErrorMessage(err))
			}
		})
	}
}
