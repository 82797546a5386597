package mesh

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Key identifies a resource: its kind, namespace ("" for cluster-scoped kinds) and name.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// String renders "Kind namespace/name" (or "Kind name" for cluster-scoped kinds).
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + " " + k.Name
	}
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

// compareKeys orders keys by kind, namespace and name.
func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// Resource is one decoded resource. Object is one of *v1alpha1.Mesh, *v1alpha1.Service,
// *gatewayv1.HTTPRoute, *gatewayv1.Gateway or *v1alpha1.AuthorizationPolicy, with defaults
// filled in.
type Resource struct {
	Kind      string
	Namespace string
	Name      string
	Object    any
}

// Key returns the resource's key.
func (r *Resource) Key() Key { return Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name} }

// StoreMeta is the metadata a store maintains on the resources it keeps.
type StoreMeta struct {
	// Generation increases on every change of the spec.
	Generation int64
	// ResourceVersion is the store revision at which the resource last changed.
	ResourceVersion string
	// CreationTimestamp is when the resource was first stored.
	CreationTimestamp time.Time
}

// StoreMeta returns the store-maintained metadata of the resource.
func (r *Resource) StoreMeta() StoreMeta {
	switch o := r.Object.(type) {
	case *v1alpha1.Mesh:
		return ownStoreMeta(&o.Metadata)
	case *v1alpha1.Service:
		return ownStoreMeta(&o.Metadata)
	case *v1alpha1.AuthorizationPolicy:
		return ownStoreMeta(&o.Metadata)
	case *gatewayv1.HTTPRoute:
		return k8sStoreMeta(&o.ObjectMeta)
	case *gatewayv1.Gateway:
		return k8sStoreMeta(&o.ObjectMeta)
	case *v1alpha1.MTLSPolicy:
		return ownStoreMeta(&o.Metadata)
	}
	return StoreMeta{}
}

// SetStoreMeta sets the store-maintained metadata of the resource.
func (r *Resource) SetStoreMeta(m StoreMeta) {
	switch o := r.Object.(type) {
	case *v1alpha1.Mesh:
		setOwnStoreMeta(&o.Metadata, m)
	case *v1alpha1.Service:
		setOwnStoreMeta(&o.Metadata, m)
	case *v1alpha1.AuthorizationPolicy:
		setOwnStoreMeta(&o.Metadata, m)
	case *gatewayv1.HTTPRoute:
		setK8sStoreMeta(&o.ObjectMeta, m)
	case *gatewayv1.Gateway:
		setK8sStoreMeta(&o.ObjectMeta, m)
	case *v1alpha1.MTLSPolicy:
		setOwnStoreMeta(&o.Metadata, m)
	}
}

func ownStoreMeta(m *v1alpha1.ObjectMeta) StoreMeta {
	out := StoreMeta{Generation: m.Generation, ResourceVersion: m.ResourceVersion}
	if t, err := time.Parse(time.RFC3339, m.CreationTimestamp); err == nil {
		out.CreationTimestamp = t
	}
	return out
}

func setOwnStoreMeta(m *v1alpha1.ObjectMeta, s StoreMeta) {
	m.Generation = s.Generation
	m.ResourceVersion = s.ResourceVersion
	m.CreationTimestamp = ""
	if !s.CreationTimestamp.IsZero() {
		m.CreationTimestamp = s.CreationTimestamp.UTC().Format(time.RFC3339)
	}
}

func k8sStoreMeta(m *metav1.ObjectMeta) StoreMeta {
	return StoreMeta{Generation: m.Generation, ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp.Time}
}

func setK8sStoreMeta(m *metav1.ObjectMeta, s StoreMeta) {
	m.Generation = s.Generation
	m.ResourceVersion = s.ResourceVersion
	m.CreationTimestamp = metav1.NewTime(s.CreationTimestamp.UTC().Truncate(time.Second))
	if s.CreationTimestamp.IsZero() {
		m.CreationTimestamp = metav1.Time{}
	}
}

// Labels returns the resource's labels (not a copy).
func (r *Resource) Labels() map[string]string {
	labels, _ := r.userMeta()
	return labels
}

// userMeta returns the metadata users set (labels and annotations).
func (r *Resource) userMeta() (labels, annotations map[string]string) {
	switch o := r.Object.(type) {
	case *v1alpha1.Mesh:
		return o.Metadata.Labels, o.Metadata.Annotations
	case *v1alpha1.Service:
		return o.Metadata.Labels, o.Metadata.Annotations
	case *v1alpha1.AuthorizationPolicy:
		return o.Metadata.Labels, o.Metadata.Annotations
	case *gatewayv1.HTTPRoute:
		return o.Labels, o.Annotations
	case *gatewayv1.Gateway:
		return o.Labels, o.Annotations
	case *v1alpha1.MTLSPolicy:
		return o.Metadata.Labels, o.Metadata.Annotations
	}
	return nil, nil
}

// spec returns the resource's spec.
func (r *Resource) spec() any {
	switch o := r.Object.(type) {
	case *v1alpha1.Mesh:
		return &o.Spec
	case *v1alpha1.Service:
		return &o.Spec
	case *v1alpha1.AuthorizationPolicy:
		return &o.Spec
	case *gatewayv1.HTTPRoute:
		return &o.Spec
	case *gatewayv1.Gateway:
		return &o.Spec
	case *v1alpha1.MTLSPolicy:
		return &o.Spec
	}
	return nil
}

// SpecEqual reports whether r and o have the same kind and spec. Specs are compared by their
// JSON form, so that an empty list and an absent one are equal.
func (r *Resource) SpecEqual(o *Resource) bool {
	if r.Kind != o.Kind {
		return false
	}
	a, errA := json.Marshal(r.spec())
	b, errB := json.Marshal(o.spec())
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// MetaEqual reports whether r and o have the same labels and annotations.
func (r *Resource) MetaEqual(o *Resource) bool {
	la, aa := r.userMeta()
	lb, ab := o.userMeta()
	return maps.Equal(la, lb) && maps.Equal(aa, ab)
}

// Encode returns the JSON form of the resource, as served by the API.
func (r *Resource) Encode() ([]byte, error) {
	b, err := json.Marshal(r.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", r.Key(), err)
	}
	return b, nil
}

// Clone returns a deep copy of the resource.
func (r *Resource) Clone() (*Resource, error) {
	b, err := r.Encode()
	if err != nil {
		return nil, err
	}
	return DecodeStored(b)
}
