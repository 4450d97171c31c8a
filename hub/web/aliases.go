package web

import (
	"encoding/csv"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// handlePutAliases replaces a store's SKU aliases, all or nothing: a JSON
// body {"aliases":[{"store_sku","sku"}]}, or with Content-Type text/csv
// lines of store_sku,sku (a header line optional).
func (s *Server) handlePutAliases(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	as, ok := s.Stores.(hub.SKUAliasService)
	if !ok {
		return hub.Errorf(hub.EINTERNAL, "This hub keeps no SKU aliases.")
	}
	var list hubapi.SKUAliasList
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/csv" {
		if list.Aliases, err = parseAliases(http.MaxBytesReader(w, r.Body, s.MaxCSVBytes)); err != nil {
			return err
		}
	} else if err := s.decodeJSON(w, r, &list); err != nil {
		return err
	}
	aliases := make([]hub.SKUAlias, len(list.Aliases))
	for i, a := range list.Aliases {
		aliases[i] = hub.SKUAlias{StoreSKU: a.StoreSKU, SKU: a.SKU}
	}
	if err := as.SetAliases(r.Context(), id, aliases); err != nil {
		return err
	}
	s.Logger.Info("store SKU aliases set", "store_id", id, "aliases", len(aliases))
	return s.writeAliases(w, r, as, id)
}

func (s *Server) handleGetAliases(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	as, ok := s.Stores.(hub.SKUAliasService)
	if !ok {
		return hub.Errorf(hub.EINTERNAL, "This hub keeps no SKU aliases.")
	}
	return s.writeAliases(w, r, as, id)
}

func (s *Server) writeAliases(w http.ResponseWriter, r *http.Request, as hub.SKUAliasService, id int64) error {
	aliases, err := as.Aliases(r.Context(), id)
	if err != nil {
		return err
	}
	out := hubapi.SKUAliasList{Aliases: make([]hubapi.SKUAlias, len(aliases))}
	for i, a := range aliases {
		out.Aliases[i] = hubapi.SKUAlias{StoreSKU: a.StoreSKU, SKU: a.SKU}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseAliases reads store_sku,sku lines; a first line reading
// store_sku,sku is a header.
func parseAliases(rd io.Reader) ([]hubapi.SKUAlias, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	out := []hubapi.SKUAlias{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, hub.Errorf(hub.ETOOLARGE, "The aliases are larger than %d bytes.", mbe.Limit)
			}
			return nil, hub.FieldErrorf("body", hub.EINVALID, "Line %d: want store_sku,sku (%v).", line, err)
		}
		if line == 1 && strings.EqualFold(rec[0], "store_sku") && strings.EqualFold(rec[1], "sku") {
			continue
		}
		out = append(out, hubapi.SKUAlias{StoreSKU: rec[0], SKU: rec[1]})
	}
}
