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
