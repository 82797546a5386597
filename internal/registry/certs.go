package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CertInfo describes the certificate weftd last issued to a workload. A CA rotation uses the
// issuer to know which workloads must renew.
type CertInfo struct {
	// SerialNumber is the certificate's serial number in hexadecimal.
	SerialNumber string `json:"serialNumber,omitempty"`
	// Issuer is the SHA-256 fingerprint of the CA certificate that signed it.
	Issuer string `json:"issuer,omitempty"`
	// NotAfter is its expiry.
	NotAfter time.Time `json:"notAfter"`
}

var certsBucket = []byte("workload-certs")

// loadCerts reads the certificate records of the loaded workloads; records of workloads that
// are gone are dropped. It runs inside Open's transaction.
func (r *Registry) loadCerts(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(certsBucket)
	if err != nil {
		return fmt.Errorf("creating bucket %s: %w", certsBucket, err)
	}
	var orphans [][]byte
	err = b.ForEach(func(k, v []byte) error {
		if _, ok := r.workloads[string(k)]; !ok {
			orphans = append(orphans, k)
			return nil
		}
		var c CertInfo
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("reading the certificate record of workload %s: %w", k, err)
		}
		r.certs[string(k)] = c
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range orphans {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("deleting the certificate record of workload %s: %w", k, err)
		}
	}
	return nil
}

// RecordCertificate records the certificate weftd just issued to a workload: its expiry shows
// in the workload's CertExpiry, its issuer tells a CA rotation whether the workload renewed.
func (r *Registry) RecordCertificate(id string, c CertInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workloads[id]
	if !ok {
		return &NotFoundError{ID: id}
	}
	updated := clone(w)
	expiry := c.NotAfter
	updated.CertExpiry = &expiry
	raw, err := encodeWorkload(updated)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding the certificate record of workload %s: %w", id, err)
	}
	err = r.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(workloadsBucket).Put([]byte(id), raw); err != nil {
			return err
		}
		return tx.Bucket(certsBucket).Put([]byte(id), rec)
	})
	if err != nil {
		return fmt.Errorf("saving the certificate record of workload %s: %w", id, err)
	}
	r.workloads[id] = updated
	r.certs[id] = c
	return nil
}

// Certificate returns the record of the certificate last issued to a workload, and whether
// there is one (none before its first certificate since it registered).
func (r *Registry) Certificate(id string) (CertInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.certs[id]
	return c, ok
}

// Certificates returns the certificate records of the registered workloads, by workload ID.
func (r *Registry) Certificates() map[string]CertInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.certs)
}

// forgetCertLocked drops a workload's certificate record (in the transaction tx).
func (r *Registry) forgetCertLocked(tx *bolt.Tx, id string) error {
	delete(r.certs, id)
	if err := tx.Bucket(certsBucket).Delete([]byte(id)); err != nil {
		return fmt.Errorf("deleting the certificate record of workload %s: %w", id, err)
	}
	return nil
}
