package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/store"
)

// clusterNamespace stands for "no namespace" in the paths of cluster-scoped kinds.
const clusterNamespace = "-"

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req apiclient.ApplyRequest
	if !decodeBody(w, r, s.cfg.MaxBodyBytes, &req) {
		return
	}
	if len(req.Resources) == 0 {
		writeError(w, http.StatusBadRequest, "the request holds no resources")
		return
	}
	source := func(i int) string {
		if i >= 0 && i < len(req.Sources) {
			return req.Sources[i]
		}
		return ""
	}
	batch := make([]*mesh.Resource, 0, len(req.Resources))
	var details []apiclient.ErrorDetail
	for i, raw := range req.Resources {
		res, err := mesh.Decode(raw)
		if err != nil {
			details = append(details, errorDetails(err, i, source)...)
			continue
		}
		batch = append(batch, res)
	}
	if len(details) == 0 {
		details = s.checkMeshCA(batch, source)
	}
	if len(details) > 0 {
		writeError(w, http.StatusUnprocessableEntity, refusal(len(details)), details...)
		return
	}
	results, err := s.cfg.Store.Apply(r.Context(), batch, store.ApplyOptions{
		DryRun: req.DryRun,
		Check:  func(current []*mesh.Resource) error { return mesh.Validate(batch, current).Err() },
	})
	if err != nil {
		var list mesh.ErrorList
		if errors.As(err, &list) {
			details := errorDetails(list, -1, source)
			writeError(w, http.StatusUnprocessableEntity, refusal(len(details)), details...)
			return
		}
		s.internalError(w, "applying resources", err)
		return
	}
	resp := apiclient.ApplyResponse{Results: make([]apiclient.ApplyResult, len(results))}
	for i, res := range results {
		resp.Results[i] = apiclient.ApplyResult{
			Kind: res.Key.Kind, Namespace: res.Key.Namespace, Name: res.Key.Name, Action: string(res.Action),
		}
		if !req.DryRun && res.Action != store.Unchanged {
			s.log.Info("resource applied", "resource", res.Key.String(), "action", string(res.Action))
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func refusal(n int) string {
	if n == 1 {
		return "refused: 1 problem found; nothing was applied"
	}
	return fmt.Sprintf("refused: %d problems found; nothing was applied", n)
}

// errorDetails turns decoding and validation errors into error details. index is the position
// of the resource in the request when the errors do not carry it (-1: they do).
func errorDetails(err error, index int, source func(int) string) []apiclient.ErrorDetail {
	var list mesh.ErrorList
	var one *mesh.FieldError
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = mesh.ErrorList{one}
	default:
		return []apiclient.ErrorDetail{{Index: max(index, 0), Source: source(index), Message: err.Error()}}
	}
	out := make([]apiclient.ErrorDetail, 0, len(list))
	for _, fe := range list {
		i := fe.Index
		if index >= 0 {
			i = index
		}
		out = append(out, apiclient.ErrorDetail{
			Index: max(i, 0), Source: source(i), Kind: fe.Kind, Namespace: fe.Namespace, Name: fe.Name,
			Field: fe.Field, Message: fe.Message,
		})
	}
	return out
}

// resourceKey resolves the path values kind, namespace and name. On error it has answered.
func resourceKey(w http.ResponseWriter, r *http.Request) (mesh.Key, bool) {
	info, ok := lookupKind(w, r.PathValue("kind"))
	if !ok {
		return mesh.Key{}, false
	}
	ns := r.PathValue("namespace")
	switch {
	case !info.Namespaced && ns != clusterNamespace:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is cluster-scoped: use %q as the namespace", info.Kind, clusterNamespace))
		return mesh.Key{}, false
	case !info.Namespaced:
		ns = ""
	case ns == clusterNamespace:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is namespaced: name a namespace", info.Kind))
		return mesh.Key{}, false
	}
	return mesh.Key{Kind: info.Kind, Namespace: ns, Name: r.PathValue("name")}, true
}

func lookupKind(w http.ResponseWriter, name string) (mesh.KindInfo, bool) {
	info, ok := mesh.LookupKind(name)
	if !ok {
		var plurals []string
		for _, k := range mesh.Kinds() {
			plurals = append(plurals, k.Plural)
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown kind %q; supported: %v", name, plurals))
	}
	return info, ok
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request) {
	info, ok := lookupKind(w, r.PathValue("kind"))
	if !ok {
		return
	}
	ns := r.URL.Query().Get("namespace")
	if !info.Namespaced {
		ns = ""
	}
	items, err := s.cfg.Store.List(r.Context(), info.Kind, ns)
	if err != nil {
		s.internalError(w, "listing "+info.Plural, err)
		return
	}
	list := apiclient.ResourceList{Items: make([]json.RawMessage, 0, len(items))}
	for _, res := range items {
		raw, err := res.Encode()
		if err != nil {
			s.internalError(w, "listing "+info.Plural, err)
			return
		}
		list.Items = append(list.Items, raw)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request) {
	key, ok := resourceKey(w, r)
	if !ok {
		return
	}
	res, err := s.cfg.Store.Get(r.Context(), key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.internalError(w, "reading "+key.String(), err)
		return
	}
	raw, err := res.Encode()
	if err != nil {
		s.internalError(w, "reading "+key.String(), err)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(raw))
}

func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request) {
	key, ok := resourceKey(w, r)
	if !ok {
		return
	}
	err := s.cfg.Store.Delete(r.Context(), key, store.DeleteOptions{
		Check: func(current []*mesh.Resource) error { return mesh.ValidateDelete(key, current).Err() },
	})
	var list mesh.ErrorList
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.As(err, &list):
		details := errorDetails(list, -1, func(int) string { return "" })
		writeError(w, http.StatusConflict, fmt.Sprintf("refused: %s is in use; nothing was deleted", key), details...)
		return
	case err != nil:
		s.internalError(w, "deleting "+key.String(), err)
		return
	}
	s.log.Info("resource deleted", "resource", key.String())
	writeJSON(w, http.StatusOK, apiclient.ApplyResult{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name, Action: "deleted"})
}

// internalError logs err where it is handled and answers 500 without internals.
func (s *Server) internalError(w http.ResponseWriter, doing string, err error) {
	s.log.Error(doing, "error", err)
	writeError(w, http.StatusInternalServerError, doing+" failed; see weftd's log")
}
