package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weftmesh/weft/internal/mesh"
)

// Buckets of the bbolt file.
var (
	resourcesBucket = []byte("resources")
	metaBucket      = []byte("meta")
	revisionKey     = []byte("revision")
)

// BoltConfig configures the bbolt store.
type BoltConfig struct {
	// Path of the database file, e.g. <data-dir>/store.db. Created with mode 0600.
	Path string
	// OpenTimeout bounds the wait for the file lock held by another process (default 5s).
	OpenTimeout time.Duration
	// Now returns the current time (default time.Now); tests inject a clock.
	Now func() time.Time
}

// Validate checks the configuration.
func (c BoltConfig) Validate() error {
	if c.Path == "" {
		return errors.New("store: path is required")
	}
	if c.OpenTimeout < 0 {
		return fmt.Errorf("store: open timeout %v is negative", c.OpenTimeout)
	}
	return nil
}

// Bolt is the local-mode Store, an embedded bbolt database. Its file may hold other buckets
// (the workload registry shares it, see DB).
type Bolt struct {
	db       *bolt.DB
	log      *slog.Logger
	now      func() time.Time
	revision atomic.Uint64
	notifier Notifier
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if needed) the bbolt store at cfg.Path.
func OpenBolt(cfg BoltConfig, log *slog.Logger) (*Bolt, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: cfg.OpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", cfg.Path, err)
	}
	s := &Bolt{db: db, log: log, now: cfg.Now}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{resourcesBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		s.revision.Store(readRevision(tx))
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening store %s: %w", cfg.Path, err)
	}
	log.Debug("store opened", "path", cfg.Path, "revision", s.revision.Load())
	return s, nil
}

// DB is the underlying database, for components that keep their own buckets in the same file.
func (s *Bolt) DB() *bolt.DB { return s.db }

// Close closes the database.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// Revision returns the revision of the last change.
func (s *Bolt) Revision() uint64 { return s.revision.Load() }

// Subscribe signals changes; see Store.
func (s *Bolt) Subscribe() (<-chan struct{}, func()) { return s.notifier.Subscribe() }

func readRevision(tx *bolt.Tx) uint64 {
	v := tx.Bucket(metaBucket).Get(revisionKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func writeRevision(tx *bolt.Tx, rev uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rev)
	if err := tx.Bucket(metaBucket).Put(revisionKey, b[:]); err != nil {
		return fmt.Errorf("writing revision: %w", err)
	}
	return nil
}

// dbKey is "<kind>/<namespace>/<name>"; names and namespaces are DNS labels, so '/' is free.
func dbKey(k mesh.Key) []byte { return []byte(k.Kind + "/" + k.Namespace + "/" + k.Name) }

func listPrefix(kind, namespace string) []byte {
	switch {
	case kind == "":
		return nil
	case namespace == "":
		return []byte(kind + "/")
	default:
		return []byte(kind + "/" + namespace + "/")
	}
}

// Apply stores a batch atomically; see Store.
func (s *Bolt) Apply(ctx context.Context, batch []*mesh.Resource, opts ApplyOptions) ([]Result, error) {
	if err := checkContext(ctx, "applying resources"); err != nil {
		return nil, err
	}
	var (
		results []Result
		rev     uint64
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := runCheck(tx, opts.Check); err != nil {
			return err
		}
		b := tx.Bucket(resourcesBucket)
		rev = readRevision(tx) + 1
		now := s.now()
		changed := false
		results = make([]Result, 0, len(batch))
		for _, in := range batch {
			res, err := applyOne(b, in, rev, now)
			if err != nil {
				return err
			}
			results = append(results, res)
			changed = changed || res.Action != Unchanged
		}
		if !changed || opts.DryRun {
			return errRollback // nothing changed, or a dry run: write nothing
		}
		return writeRevision(tx, rev)
	})
	switch {
	case errors.Is(err, errRollback):
		return results, nil
	case err != nil:
		return nil, err
	}
	s.revision.Store(rev)
	s.log.Debug("resources applied", "count", len(batch), "revision", rev)
	s.notifier.Notify()
	return results, nil
}

// applyOne writes one resource of a batch at revision rev.
func applyOne(b *bolt.Bucket, in *mesh.Resource, rev uint64, now time.Time) (Result, error) {
	key := in.Key()
	res, err := in.Clone()
	if err != nil {
		return Result{}, fmt.Errorf("copying %s: %w", key, err)
	}
	var meta mesh.StoreMeta
	action := Created
	if raw := b.Get(dbKey(key)); raw != nil {
		old, err := mesh.DecodeStored(raw)
		if err != nil {
			return Result{}, fmt.Errorf("reading stored %s: %w", key, err)
		}
		meta = old.StoreMeta()
		specSame := old.SpecEqual(res)
		if specSame && old.MetaEqual(res) {
			return Result{Key: key, Action: Unchanged, Resource: old}, nil
		}
		action = Configured
		if !specSame {
			meta.Generation++
		}
	} else {
		meta = mesh.StoreMeta{Generation: 1, CreationTimestamp: now.UTC().Truncate(time.Second)}
	}
	meta.ResourceVersion = strconv.FormatUint(rev, 10)
	res.SetStoreMeta(meta)
	raw, err := res.Encode()
	if err != nil {
		return Result{}, err
	}
	if err := b.Put(dbKey(key), raw); err != nil {
		return Result{}, fmt.Errorf("writing %s: %w", key, err)
	}
	return Result{Key: key, Action: action, Resource: res}, nil
}

// Get returns one resource; see Store.
func (s *Bolt) Get(ctx context.Context, key mesh.Key) (*mesh.Resource, error) {
	if err := checkContext(ctx, "reading "+key.String()); err != nil {
		return nil, err
	}
	var res *mesh.Resource
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(resourcesBucket).Get(dbKey(key))
		if raw == nil {
			return &NotFoundError{Key: key}
		}
		r, err := mesh.DecodeStored(raw)
		if err != nil {
			return fmt.Errorf("reading stored %s: %w", key, err)
		}
		res = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// List returns resources; see Store.
func (s *Bolt) List(ctx context.Context, kind, namespace string) ([]*mesh.Resource, error) {
	if err := checkContext(ctx, "listing resources"); err != nil {
		return nil, err
	}
	var out []*mesh.Resource
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = scan(tx, listPrefix(kind, namespace), namespace)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan decodes the resources whose key starts with prefix (all when nil), keeping those of
// namespace (all when "").
func scan(tx *bolt.Tx, prefix []byte, namespace string) ([]*mesh.Resource, error) {
	var out []*mesh.Resource
	c := tx.Bucket(resourcesBucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := mesh.DecodeStored(v)
		if err != nil {
			return nil, fmt.Errorf("reading stored %s: %w", k, err)
		}
		if namespace != "" && r.Namespace != namespace {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// runCheck runs check, when set, on every stored resource, inside the write transaction tx.
func runCheck(tx *bolt.Tx, check Check) error {
	if check == nil {
		return nil
	}
	current, err := scan(tx, nil, "")
	if err != nil {
		return err
	}
	return check(current)
}

// Delete removes one resource; see Store.
func (s *Bolt) Delete(ctx context.Context, key mesh.Key, opts DeleteOptions) error {
	if err := checkContext(ctx, "deleting "+key.String()); err != nil {
		return err
	}
	var rev uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(resourcesBucket)
		if b.Get(dbKey(key)) == nil {
			return &NotFoundError{Key: key}
		}
		if err := runCheck(tx, opts.Check); err != nil {
			return err
		}
		if err := b.Delete(dbKey(key)); err != nil {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
		rev = readRevision(tx) + 1
		return writeRevision(tx, rev)
	})
	if err != nil {
		return err
	}
	s.revision.Store(rev)
	s.log.Debug("resource deleted", "resource", key.String(), "revision", rev)
	s.notifier.Notify()
	return nil
}
