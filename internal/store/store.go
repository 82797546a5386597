// Package store keeps the resources users apply. Store is the seam between weftd and its
// storage backends: the embedded bbolt store of local mode (Bolt) today, Kubernetes and
// PostgreSQL later.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
)

// ErrNotFound is returned (wrapped in a *NotFoundError) when a resource does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError names the resource that does not exist. errors.Is(err, ErrNotFound) holds.
type NotFoundError struct{ Key mesh.Key }

func (e *NotFoundError) Error() string { return e.Key.String() + " not found" }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// EffectiveMesh returns the Mesh in force: the stored one with its defaults filled in, or
// the default Mesh when none is stored. An error is the store's, unwrapped: callers say what
// they read the Mesh for.
func EffectiveMesh(ctx context.Context, s Store) (*v1alpha1.Mesh, error) {
	res, err := s.Get(ctx, mesh.Key{Kind: mesh.KindMesh, Name: mesh.MeshName})
	switch {
	case errors.Is(err, ErrNotFound):
		return mesh.DefaultMesh(), nil
	case err != nil:
		return nil, err
	}
	return mesh.MeshFrom(res), nil
}

// Action says what an apply did to one resource.
type Action string

// Actions of an apply.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Result reports what an apply did to one resource of the batch.
type Result struct {
	Key    mesh.Key
	Action Action
	// Resource is the resource as stored (or as it would be stored, for a dry run), with its
	// store metadata.
	Resource *mesh.Resource
}

// Check inspects the stored resources inside the write transaction, before a change is made;
// an error aborts the change and is returned as is.
type Check func(current []*mesh.Resource) error

// ApplyOptions tune an apply.
type ApplyOptions struct {
	// DryRun computes the results without storing anything.
	DryRun bool
	// Check, when set, runs before anything is written, atomically with the write.
	Check Check
}

// DeleteOptions tune a delete.
type DeleteOptions struct {
	// Check, when set, runs before the resource is deleted, atomically with the delete.
	Check Check
}

// Store keeps resources. Implementations are safe for concurrent use.
type Store interface {
	// Apply stores a batch of resources atomically: all or nothing. A resource whose spec,
	// labels and annotations equal the stored ones is left unchanged. The store maintains
	// metadata.generation (bumped when the spec changes), resourceVersion (the store revision
	// of the last change) and creationTimestamp.
	Apply(ctx context.Context, batch []*mesh.Resource, opts ApplyOptions) ([]Result, error)
	// Get returns one resource, or a *NotFoundError.
	Get(ctx context.Context, key mesh.Key) (*mesh.Resource, error)
	// List returns the resources of a kind ("" for every kind) in a namespace ("" for every
	// namespace), sorted by kind, namespace and name.
	List(ctx context.Context, kind, namespace string) ([]*mesh.Resource, error)
	// Delete removes one resource, or returns a *NotFoundError.
	Delete(ctx context.Context, key mesh.Key, opts DeleteOptions) error
	// Revision is the store revision: it increases on every change.
	Revision() uint64
	// Subscribe returns a channel that receives a value after changes (several changes may
	// be coalesced into one value) and a function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
	// Close releases the store.
	Close() error
}

// errRollback rolls back a transaction that must not be committed (a dry run, or one that
// changed nothing); it never leaves the package.
var errRollback = errors.New("rollback")

func checkContext(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
