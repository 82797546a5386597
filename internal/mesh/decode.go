package mesh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Decode decodes one resource as written by a user: a JSON object with apiVersion, kind,
// metadata and spec. It is strict: unknown fields, unknown apiVersion/kind pairs, trailing
// data and a missing metadata.name are refused. Fields the store maintains (generation,
// resourceVersion, creationTimestamp, and for Gateway API kinds status and the other
// server-side metadata) are cleared, the namespace defaults to "default" for namespaced kinds
// and the spec's defaults are filled in. Errors are *FieldError.
func Decode(raw []byte) (*Resource, error) {
	r, err := decode(raw)
	if err != nil {
		return nil, err
	}
	r.SetStoreMeta(StoreMeta{})
	return r, nil
}

// DecodeStored decodes a resource as a store wrote it (Resource.Encode): like Decode, but it
// keeps the store-maintained metadata.
func DecodeStored(raw []byte) (*Resource, error) {
	return decode(raw)
}

func decode(raw []byte) (*Resource, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &FieldError{Index: -1, Message: "a resource must be a JSON object with apiVersion, kind, metadata and spec"}
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	// A first, lenient pass finds out what the document claims to be, so that the errors of
	// the strict pass can name it. Type errors are left to the strict pass.
	headErr := json.Unmarshal(raw, &head)
	fe := &FieldError{Index: -1, Kind: head.Kind, Namespace: head.Metadata.Namespace, Name: head.Metadata.Name}
	var typeErr *json.UnmarshalTypeError
	if headErr != nil && !errors.As(headErr, &typeErr) {
		fe.Field, fe.Message = jsonErrorField(headErr)
		return nil, fe
	}
	info, err := kindOf(head.APIVersion, head.Kind)
	if err != nil {
		fe.Field, fe.Message = err.field, err.msg
		return nil, fe
	}
	if info.Namespaced && fe.Namespace == "" {
		fe.Namespace = DefaultNamespace
	}

	var obj any
	switch info.Kind {
	case KindMesh:
		obj = &v1alpha1.Mesh{}
	case KindService:
		obj = &v1alpha1.Service{}
	case KindHTTPRoute:
		obj = &gatewayv1.HTTPRoute{}
	case KindGateway:
		obj = &gatewayv1.Gateway{}
	case KindMTLSPolicy:
		obj = &v1alpha1.MTLSPolicy{}
	case KindAuthorizationPolicy:
		obj = &v1alpha1.AuthorizationPolicy{}
	}
	if err := strictUnmarshal(raw, obj); err != nil {
		fe.Field, fe.Message = jsonErrorField(err)
		return nil, fe
	}

	r := &Resource{Kind: info.Kind, Object: obj}
	switch o := obj.(type) {
	case *v1alpha1.Mesh:
		r.Namespace, r.Name = o.Metadata.Namespace, o.Metadata.Name
		defaultMesh(o)
	case *v1alpha1.Service:
		if o.Metadata.Namespace == "" {
			o.Metadata.Namespace = DefaultNamespace
		}
		r.Namespace, r.Name = o.Metadata.Namespace, o.Metadata.Name
		defaultService(o)
	case *gatewayv1.HTTPRoute:
		o.ObjectMeta = cleanK8sMeta(o.ObjectMeta)
		o.Status = gatewayv1.HTTPRouteStatus{}
		r.Namespace, r.Name = o.Namespace, o.Name
		defaultHTTPRoute(o)
	case *gatewayv1.Gateway:
		o.ObjectMeta = cleanK8sMeta(o.ObjectMeta)
		o.Status = gatewayv1.GatewayStatus{}
		r.Namespace, r.Name = o.Namespace, o.Name
	case *v1alpha1.MTLSPolicy:
		defaultMTLSPolicy(o)
		r.Namespace, r.Name = o.Metadata.Namespace, o.Metadata.Name
	case *v1alpha1.AuthorizationPolicy:
		if o.Metadata.Namespace == "" {
			o.Metadata.Namespace = DefaultNamespace
		}
		r.Namespace, r.Name = o.Metadata.Namespace, o.Metadata.Name
		defaultAuthorizationPolicy(o)
	}
	fe.Namespace = r.Namespace
	switch {
	case r.Name == "":
		fe.Field, fe.Message = "metadata.name", "is required"
		return nil, fe
	case !info.Namespaced && r.Namespace != "":
		fe.Field, fe.Message = "metadata.namespace", fmt.Sprintf("%s is cluster-scoped: remove the namespace", info.Kind)
		return nil, fe
	}
	return r, nil
}

type kindError struct{ field, msg string }

func kindOf(apiVersion, kind string) (KindInfo, *kindError) {
	switch {
	case apiVersion == "":
		return KindInfo{}, &kindError{"apiVersion", "is required; supported: " + SupportedKinds()}
	case kind == "":
		return KindInfo{}, &kindError{"kind", "is required; supported: " + SupportedKinds()}
	}
	knownVersion := false
	for _, k := range kinds {
		if k.APIVersion != apiVersion {
			continue
		}
		knownVersion = true
		if k.Kind == kind {
			return k, nil
		}
	}
	if !knownVersion {
		return KindInfo{}, &kindError{"apiVersion", fmt.Sprintf("%q is not supported; supported: %s", apiVersion, SupportedKinds())}
	}
	return KindInfo{}, &kindError{"kind", fmt.Sprintf("%q is not supported in %s; supported: %s", kind, apiVersion, SupportedKinds())}
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown fields.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the resource")
	}
	return nil
}

// jsonErrorField splits a decoding error into the field it concerns and a message.
func jsonErrorField(err error) (string, string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeErr.Field, fmt.Sprintf("cannot use a JSON %s here (want %s)", typeErr.Value, typeErr.Type)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return "", fmt.Sprintf("invalid JSON at offset %d: %v", syntaxErr.Offset, syntaxErr)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return "", msg
}

// cleanK8sMeta keeps the metadata a user may set, dropping what the store maintains or
// what Weft does not interpret.
func cleanK8sMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	ns := m.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         ns,
		Labels:            m.Labels,
		Annotations:       m.Annotations,
		Generation:        m.Generation,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
	}
}
