package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// maxImportLineErrors bounds the bad lines listed in one 422.
const maxImportLineErrors = 100

// handleImport applies a CSV of sku,location,on_hand counts (header
// optional) all or nothing. Bad lines answer 422 listing each by number.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	body := http.MaxBytesReader(w, r.Body, s.MaxCSVBytes)
	counts, err := parseCounts(body)
	if err != nil {
		return err
	}
	n, err := s.Inventory.Import(r.Context(), counts)
	if err != nil {
		if hub.ErrorCode(err) == hub.EINVALID {
			return &hub.Error{Code: hub.EUNPROCESSABLE, Message: hub.ErrorMessage(err), Field: "body"}
		}
		return err
	}
	s.Logger.Info("stock imported", "counts", n)
	writeJSON(w, http.StatusOK, hubapi.ImportResult{Imported: n})
	return nil
}

// parseCounts reads every line, returning all bad ones in a *linesError.
func parseCounts(rd io.Reader) ([]hub.Count, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	var counts []hub.Count
	var bad []hubapi.LineError
	seen := map[[2]string]int{}
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, hub.Errorf(hub.ETOOLARGE, "Import is larger than %d bytes.", mbe.Limit)
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if len(bad) < maxImportLineErrors {
					bad = append(bad, hubapi.LineError{Line: pe.Line, Message: pe.Err.Error()})
				}
				continue
			}
			return nil, fmt.Errorf("read import: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first && len(rec) > 0 {
			// Spreadsheets often start a UTF-8 CSV with a byte order mark.
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		}
		isHeader := first && len(rec) == 3 && strings.EqualFold(strings.TrimSpace(rec[0]), "sku") &&
			strings.EqualFold(strings.TrimSpace(rec[2]), "on_hand")
		first = false
		if isHeader {
			continue
		}
		c, msg := parseCountLine(rec)
		if msg == "" {
			key := [2]string{c.SKU, c.Location}
			if prev, ok := seen[key]; ok {
				msg = fmt.Sprintf("duplicate of line %d", prev)
			} else {
				seen[key] = line
			}
		}
		if msg != "" {
			// Keep reading past the listed maximum, so an oversized
			// body still answers 413.
			if len(bad) < maxImportLineErrors {
				bad = append(bad, hubapi.LineError{Line: line, Message: msg})
			}
			continue
		}
		counts = append(counts, c)
	}
	if len(bad) > 0 {
		return nil, &linesError{Lines: bad}
	}
	if len(counts) == 0 {
		return nil, hub.FieldErrorf("body", hub.EINVALID, "Import holds no lines; expected sku,location,on_hand.")
	}
	return counts, nil
}

func parseCountLine(rec []string) (hub.Count, string) {
	if len(rec) != 3 {
		return hub.Count{}, fmt.Sprintf("want 3 fields sku,location,on_hand, got %d", len(rec))
	}
	sku, loc, q := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
	if err := hub.ValidateName("sku", sku); err != nil {
		return hub.Count{}, hub.ErrorMessage(err)
	}
	if err := hub.ValidateName("location", loc); err != nil {
		return hub.Count{}, hub.ErrorMessage(err)
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return hub.Count{}, fmt.Sprintf("on_hand %q is not an integer", q)
	}
	if n < 0 {
		return hub.Count{}, "on_hand must not be negative"
	}
	return hub.Count{SKU: sku, Location: loc, OnHand: n, Actor: actor, Reason: "import"}, ""
}
