package web

import (
	"net/http"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// handleProblems lists what needs a person, newest first (?limit=, at most
// 1,000).
func (s *Server) handleProblems(w http.ResponseWriter, r *http.Request) error {
	p, err := s.page(r)
	if err != nil {
		return err
	}
	ps, ok := s.Orders.(hub.ProblemService)
	if !ok {
		return hub.Errorf(hub.EINTERNAL, "This hub lists no problems.")
	}
	list, err := ps.Problems(r.Context(), p.Limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hubapi.ProblemList{Problems: apiList(list, func(p hub.Problem) hubapi.Problem { return hubapi.Problem(p) })})
	return nil
}
