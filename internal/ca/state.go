package ca

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Phase is the step a CA rotation is at.
type Phase string

// The phases of a rotation, in order. A rotation moves on when every proxy or workload has
// done what the phase waits for.
const (
	// PhaseIdle: no rotation is in progress.
	PhaseIdle Phase = "idle"
	// PhaseTrust: the new roots join every proxy's trust bundle; the old CA still signs.
	// Done when every connected proxy has applied a trust bundle with the new roots.
	PhaseTrust Phase = "trust"
	// PhaseReissue: the new CA signs; workloads are told to renew their certificates.
	// Done when no registered workload holds a live certificate of another CA.
	PhaseReissue Phase = "reissue"
	// PhaseRetire: the old roots left the trust bundle. Done when every connected proxy has
	// applied the trust bundle without them.
	PhaseRetire Phase = "retire"
)

// State is what weftd persists about its CA, so that a restart resumes a rotation where it
// was.
type State struct {
	// Active is the CA that signs workload certificates.
	Active Source `json:"active"`
	// Rotation is the rotation in progress, or nil.
	Rotation *Rotation `json:"rotation,omitempty"`
}

// Rotation is a rotation in progress from one CA to another.
type Rotation struct {
	From Source `json:"from"`
	// FromRoots is the PEM of the old CA's roots: they stay in the trust bundle until the
	// retire phase, even if the old CA's files are gone by then.
	FromRoots string `json:"fromRoots"`
	To        Source `json:"to"`
	// ToRoots is the PEM of the new CA's roots.
	ToRoots    string    `json:"toRoots"`
	Phase      Phase     `json:"phase"`
	Started    time.Time `json:"started"`
	PhaseSince time.Time `json:"phaseSince"`
}

// clone copies a state (the rotation is copied, its sources share their files pointer, which
// is never mutated).
func (s State) clone() State {
	if s.Rotation != nil {
		r := *s.Rotation
		s.Rotation = &r
	}
	return s
}

// StateStore persists the CA state.
type StateStore interface {
	// Load returns the saved state, or nil when none was saved yet.
	Load() (*State, error)
	// Save replaces the saved state.
	Save(State) error
}

var (
	caBucket = []byte("ca")
	stateKey = []byte("state")
)

// BoltState keeps the CA state in the bucket "ca" of weftd's bbolt database.
type BoltState struct{ db *bolt.DB }

var _ StateStore = (*BoltState)(nil)

// NewBoltState returns the state store of db, creating its bucket.
func NewBoltState(db *bolt.DB) (*BoltState, error) {
	if db == nil {
		return nil, errors.New("ca state: a database is required")
	}
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(caBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", caBucket, err)
	}
	return &BoltState{db: db}, nil
}

// Load returns the saved state, or nil.
func (b *BoltState) Load() (*State, error) {
	var st *State
	err := b.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(caBucket).Get(stateKey)
		if raw == nil {
			return nil
		}
		st = &State{}
		return json.Unmarshal(raw, st)
	})
	if err != nil {
		return nil, fmt.Errorf("loading the CA state: %w", err)
	}
	return st, nil
}

// Save replaces the saved state.
func (b *BoltState) Save(st State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding the CA state: %w", err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(caBucket).Put(stateKey, raw) })
	if err != nil {
		return fmt.Errorf("saving the CA state: %w", err)
	}
	return nil
}
