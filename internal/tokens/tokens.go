// Package tokens keeps weftd's join tokens: credentials an operator creates for one workload
// identity (a namespace and a service account), that let a proxy register workloads of that
// identity and obtain its certificate, and nothing else.
//
// A token reads weft-jt.<id>.<secret>. The ID is public (it names the token in listings and
// revocations); the secret is 32 random bytes, shown once when the token is created. weftd
// stores only the SHA-256 of the secret, in the bucket "joinTokens" of its bbolt file.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/mesh"
)

// Prefix starts every join token; it tells a join token from the admin token.
const Prefix = "weft-jt."

// Limits of a token's lifetime: the API's (apiclient), which weft and its demo check against.
const (
	DefaultTTL = apiclient.DefaultJoinTokenTTL
	MinTTL     = apiclient.MinJoinTokenTTL
	MaxTTL     = apiclient.MaxJoinTokenTTL
)

const (
	idBytes     = 8  // hex-encoded: 16 characters
	secretBytes = 32 // base64url-encoded without padding: 43 characters
)

var bucket = []byte("joinTokens")

// Errors. A token that does not authenticate yields an *InvalidError whose Reason is one of
// ErrMalformed, ErrUnknown, ErrExpired and ErrRevoked.
var (
	// ErrInvalidRequest marks a creation request that is malformed.
	ErrInvalidRequest = errors.New("invalid join token request")
	// ErrNotFound is returned when revoking a token ID weftd does not know.
	ErrNotFound = errors.New("join token not found")

	ErrMalformed = errors.New("malformed join token")
	ErrUnknown   = errors.New("unknown join token")
	ErrExpired   = errors.New("join token expired")
	ErrRevoked   = errors.New("join token revoked")
)

// InvalidError says why a presented token does not authenticate. Its message names the token
// by ID, never by its secret.
type InvalidError struct {
	// ID is the token's ID when the token was well formed.
	ID string
	// Reason is ErrMalformed, ErrUnknown, ErrExpired or ErrRevoked.
	Reason error
	// At is when the token expired or was revoked.
	At time.Time
}

func (e *InvalidError) Error() string {
	at := e.At.UTC().Format(time.RFC3339)
	switch e.Reason {
	case ErrMalformed:
		return "malformed join token: want " + Prefix + "<id>.<secret>, as 'weft token create' prints it"
	case ErrExpired:
		return fmt.Sprintf("join token %s expired at %s", e.ID, at)
	case ErrRevoked:
		return fmt.Sprintf("join token %s was revoked at %s", e.ID, at)
	}
	return fmt.Sprintf("join token %s is not known to this weftd (or its secret is wrong)", e.ID)
}

// Unwrap makes errors.Is(err, ErrExpired) (and the others) work.
func (e *InvalidError) Unwrap() error { return e.Reason }

// Token is what weftd knows of a join token, without its secret.
type Token struct {
	ID             string     `json:"id"`
	Namespace      string     `json:"namespace"`
	ServiceAccount string     `json:"serviceAccount"`
	Created        time.Time  `json:"created"`
	Expiry         time.Time  `json:"expiry"`
	RevokedAt      *time.Time `json:"revokedAt,omitempty"`
}

// Revoked reports whether the token was revoked.
func (t Token) Revoked() bool { return t.RevokedAt != nil }

// record is a stored token: its description and the SHA-256 of its secret.
type record struct {
	Token
	SecretHash []byte `json:"secretSHA256"`
}

// CreateRequest asks for a new token.
type CreateRequest struct {
	Namespace      string
	ServiceAccount string
	// TTL is how long the token is valid (default DefaultTTL, from MinTTL to MaxTTL).
	TTL time.Duration
}

// Config configures the store.
type Config struct {
	// Now returns the current time (default time.Now); tests inject a clock.
	Now func() time.Time
}

// Store keeps the join tokens in a bbolt database. It is safe for concurrent use: every call
// reads or writes the database, so a revocation holds for the very next Verify.
type Store struct {
	db  *bolt.DB
	now func() time.Time
	log *slog.Logger
}

// Open returns the store of the tokens in db, creating its bucket if needed.
func Open(cfg Config, db *bolt.DB, log *slog.Logger) (*Store, error) {
	if db == nil {
		return nil, errors.New("tokens: a database is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucket); err != nil {
			return fmt.Errorf("creating bucket %s: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening the join token store: %w", err)
	}
	return &Store{db: db, now: cfg.Now, log: log}, nil
}

// IsJoinToken reports whether a bearer credential has the form of a join token.
func IsJoinToken(bearer string) bool { return strings.HasPrefix(bearer, Prefix) }

// Create makes a token for the request's identity and returns it with its secret form, the
// only time that form exists. Errors for a malformed request wrap ErrInvalidRequest.
func (s *Store) Create(req CreateRequest) (Token, string, error) {
	if req.TTL == 0 {
		req.TTL = DefaultTTL
	}
	if err := req.validate(); err != nil {
		return Token{}, "", fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	idRaw := make([]byte, idBytes)
	secret := make([]byte, secretBytes)
	_, _ = rand.Read(idRaw) // crypto/rand.Read never fails
	_, _ = rand.Read(secret)
	hash := sha256.Sum256(secret)
	now := s.now().UTC().Truncate(time.Second)
	rec := record{
		Token: Token{
			ID:             hex.EncodeToString(idRaw),
			Namespace:      req.Namespace,
			ServiceAccount: req.ServiceAccount,
			Created:        now,
			Expiry:         now.Add(req.TTL),
		},
		SecretHash: hash[:],
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Token{}, "", fmt.Errorf("encoding join token: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(rec.ID)) != nil {
			return fmt.Errorf("join token ID %s already exists", rec.ID) // 2^-64: never
		}
		return b.Put([]byte(rec.ID), raw)
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("saving join token: %w", err)
	}
	s.log.Info("join token created", "id", rec.ID, "namespace", rec.Namespace,
		"serviceAccount", rec.ServiceAccount, "expiry", rec.Expiry)
	return rec.Token, Prefix + rec.ID + "." + base64.RawURLEncoding.EncodeToString(secret), nil
}

func (r CreateRequest) validate() error {
	if msg := mesh.ValidateDNSLabel(r.Namespace); msg != "" {
		return fmt.Errorf("namespace %s", msg)
	}
	if r.ServiceAccount == "" {
		return errors.New("a service account is required")
	}
	if err := mesh.ValidateServiceAccount(r.ServiceAccount); err != nil {
		return err
	}
	if r.TTL < MinTTL || r.TTL > MaxTTL {
		return fmt.Errorf("ttl %v is out of range %v to %v (30 days)", r.TTL, MinTTL, MaxTTL)
	}
	return nil
}

// Verify returns the token a bearer credential stands for if it is known, its secret is
// right, and it is neither expired nor revoked. Otherwise the error is an *InvalidError (or,
// when the database fails, another error).
func (s *Store) Verify(bearer string) (Token, error) {
	id, secret, err := parse(bearer)
	if err != nil {
		return Token{}, err
	}
	rec, found, err := s.get(id)
	if err != nil {
		return Token{}, err
	}
	hash := sha256.Sum256(secret)
	if !found || subtle.ConstantTimeCompare(hash[:], rec.SecretHash) != 1 {
		return Token{}, &InvalidError{ID: id, Reason: ErrUnknown}
	}
	if rec.Revoked() {
		return Token{}, &InvalidError{ID: id, Reason: ErrRevoked, At: *rec.RevokedAt}
	}
	if !s.now().Before(rec.Expiry) {
		return Token{}, &InvalidError{ID: id, Reason: ErrExpired, At: rec.Expiry}
	}
	return rec.Token, nil
}

// parse splits weft-jt.<id>.<secret> and decodes the secret.
func parse(bearer string) (id string, secret []byte, err error) {
	malformed := &InvalidError{Reason: ErrMalformed}
	rest, ok := strings.CutPrefix(bearer, Prefix)
	if !ok {
		return "", nil, malformed
	}
	id, enc, ok := strings.Cut(rest, ".")
	if !ok || len(id) != 2*idBytes || strings.ToLower(id) != id {
		return "", nil, malformed
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", nil, malformed
	}
	secret, err = base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(secret) != secretBytes {
		return "", nil, malformed
	}
	return id, secret, nil
}

// List returns every token, revoked and expired ones included, oldest first.
func (s *Store) List() ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			rec, err := decode(v)
			if err != nil {
				return fmt.Errorf("reading join token %s: %w", k, err)
			}
			out = append(out, rec.Token)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing join tokens: %w", err)
	}
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke marks a token revoked: from now on it authenticates nothing. Revoking a revoked
// token changes nothing. An unknown ID yields an error wrapping ErrNotFound.
func (s *Store) Revoke(id string) (Token, error) {
	var out Token
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		rec, err := decode(v)
		if err != nil {
			return fmt.Errorf("reading join token %s: %w", id, err)
		}
		if !rec.Revoked() {
			at := s.now().UTC()
			rec.RevokedAt = &at
			raw, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("encoding join token %s: %w", id, err)
			}
			if err := b.Put([]byte(id), raw); err != nil {
				return fmt.Errorf("saving join token %s: %w", id, err)
			}
			s.log.Info("join token revoked", "id", id, "namespace", rec.Namespace, "serviceAccount", rec.ServiceAccount)
		}
		out = rec.Token
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	return out, nil
}

func (s *Store) get(id string) (record, bool, error) {
	var rec record
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		rec, err = decode(v)
		found = err == nil
		return err
	})
	if err != nil {
		return record{}, false, fmt.Errorf("reading join token %s: %w", id, err)
	}
	return rec, found, nil
}

func decode(raw []byte) (record, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return record{}, fmt.Errorf("decoding join token: %w", err)
	}
	if len(rec.SecretHash) != sha256.Size {
		return record{}, fmt.Errorf("join token %s: stored hash has %d bytes, want %d", rec.ID, len(rec.SecretHash), sha256.Size)
	}
	return rec, nil
}
