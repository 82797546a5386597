package admin

import (
	"encoding/json"
	"net/http"
)

// plaintext serves GET /mtls/plaintext: the peers that recently sent plaintext to the inbound
// listeners (wire.PlaintextReport), so that `weft mtls report` can tell whether switching to
// STRICT would cut anyone off.
func (s *Server) plaintext(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Plaintext == nil {
		http.Error(w, "this proxy does not report plaintext peers", http.StatusNotFound)
		return
	}
	data, err := json.MarshalIndent(s.cfg.Plaintext(), "", "  ")
	if err != nil {
		s.log.Error("encoding /mtls/plaintext", "error", err)
		http.Error(w, "encoding the plaintext report failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(data, '\n'))
}
