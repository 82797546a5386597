package admin

import "net/http"

// plaintext serves GET /mtls/plaintext: the peers that recently sent plaintext to the inbound
// listeners (wire.PlaintextReport), so that `weft mtls report` can tell whether switching to
// STRICT would cut anyone off.
func (s *Server) plaintext(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Plaintext == nil {
		http.Error(w, "this proxy does not report plaintext peers", http.StatusNotFound)
		return
	}
	s.writeJSON(w, "the plaintext report", s.cfg.Plaintext())
}
