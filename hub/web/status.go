package web

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"

	"github.com/stockwire/stockwire/hub"
)

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Parse(statusHTML))

// statusData feeds status.html.
type statusData struct {
	Stores []hub.Store
	Online int
}

// handleStatus renders the stores and their agents' state as HTML, for a
// human with the admin token (curl, or a browser extension setting the
// header).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	stores, err := s.Stores.Stores(r.Context())
	if err != nil {
		return err
	}
	d := statusData{Stores: stores}
	for _, st := range stores {
		if st.Agent.Connected {
			d.Online++
		}
	}
	var buf bytes.Buffer
	if err := statusTmpl.Execute(&buf, d); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
	return nil
}
