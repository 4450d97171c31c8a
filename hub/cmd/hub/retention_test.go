package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/pgtest"
	"github.com/stockwire/stockwire/shared/systest"
)

func TestMain_RetainPersonalDataFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"Off", nil, nil, 0},
		{"Days", []string{"--retain-personal-data", "90d"}, nil, 90 * 24 * time.Hour},
		{"Duration", []string{"--retain-personal-data=36h"}, nil, 36 * time.Hour},
		{"Environment", nil, map[string]string{"STOCKWIRE_RETAIN_PERSONAL_DATA": "30d"}, 30 * 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &bytes.Buffer{}
			m.LookupEnv = env(tt.env)
			if err := m.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := m.Config.RetainPersonalData; got != tt.want {
				t.Fatalf("RetainPersonalData=%v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"90x", "-5d", "-1h", "d"} {
		t.Run("Bad"+bad, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &bytes.Buffer{}
			m.LookupEnv = env(nil)
			err := m.ParseFlags([]string{"--retain-personal-data", bad})
			if err == nil || !strings.Contains(err.Error(), "retain-personal-data") {
				t.Fatalf("err=%v, want one naming --retain-personal-data", err)
			}
		})
	}
}

// TestMain_RetainPersonalData runs the hub with retention on: an order
// older than the retention period loses its personal data, a young one
// keeps it, and both keep their lines.
func TestMain_RetainPersonalData(t *testing.T) {
	t.Parallel()
	m := NewMain()
	stderr := &systest.SyncBuffer{}
	m.Stderr = stderr
	m.Config.Listen = "127.0.0.1:0"
	m.Config.DatabaseURL = pgtest.NewDB(t)
	m.Config.DataDir = t.TempDir()
	m.Config.AdminToken = testAdminToken
	m.Config.LogFormat = "text"
	m.Config.RetainPersonalData = 24 * time.Hour
	m.Config.RetentionInterval = 20 * time.Millisecond
	if err := m.Run(t.Context()); err != nil {
		m.Close()
		t.Fatalf("run hub: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close hub: %v", err)
		}
	})
	st, _, err := m.Stores.Create(t.Context(), hub.NewStore{Name: "eu", URL: "https://eu.example", Policy: hub.PolicyMirror})
	if err != nil {
		t.Fatal(err)
	}
	report := func(id int64, created time.Time) hub.Order {
		t.Helper()
		c := created.UTC().Format("2006-01-02T15:04:05")
		raw, _ := json.Marshal(map[string]any{"id": id, "status": "processing", "date_created_gmt": c,
			"billing":    map[string]string{"first_name": "Ada", "email": "ada@example.com", "phone": "+44 1", "country": "GB"},
			"line_items": []map[string]any{{"id": 1, "sku": "MUG", "quantity": 2, "total": "5.00"}}})
		o, err := m.Orders.ApplyOrderReport(t.Context(), st.ID, hub.OrderReport{WooOrderID: id, Status: "processing",
			DateModified: time.Now(), Lines: []hub.OrderLine{{SKU: "MUG", Quantity: 2}}, Raw: raw})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	old := report(1, time.Now().Add(-48*time.Hour))
	young := report(2, time.Now().Add(-time.Hour))

	systest.WaitFor(t, 10*time.Second, "old order's personal data erased", func() error {
		o, err := m.Orders.Order(t.Context(), old.ID)
		if err != nil {
			return err
		}
		if o.PersonalDataErasedAt == nil {
			return errors.New("not erased yet")
		}
		d := o.Document
		if d.Customer.Email != "" || d.Billing.FirstName != "" || d.Billing.Phone != "" || d.Billing.Country != "GB" ||
			len(d.Lines) != 1 || d.Lines[0].Quantity != 2 || len(o.Lines) != 1 {
			t.Fatalf("erased order=%+v document=%+v", o, d)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	o, err := m.Orders.Order(ctx, young.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.PersonalDataErasedAt != nil || o.Document.Customer.Email != "ada@example.com" {
		t.Fatalf("young order=%+v document=%+v", o, o.Document)
	}
	if strings.Contains(stderr.String(), "ada@example.com") {
		t.Fatalf("personal data logged:\n%s", stderr)
	}
}
