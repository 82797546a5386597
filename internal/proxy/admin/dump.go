package admin

import (
	"bytes"
	"crypto/x509"
	"encoding"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Dump is the body of GET /config_dump.
type Dump struct {
	// Version is the proxy's build version.
	Version string `json:"version"`
	// Identity describes the workload certificate; null before the first one.
	Identity *IdentityDump `json:"identity"`
	// XDS is the xDS client's status (connection, last version, last NACK).
	XDS any `json:"xds"`
	// Config is the running configuration: the fields of config.Config, with durations as Go
	// duration strings, regular expressions as their source, enums by name, trust bundles as a
	// summary of their certificates, and nil or empty values left out.
	Config any `json:"config"`
}

// IdentityDump describes the workload certificate; it never carries the key.
type IdentityDump struct {
	SPIFFEID     string     `json:"spiffeID"`
	CertExpiry   *time.Time `json:"certExpiry"`
	SerialNumber string     `json:"serialNumber,omitempty"`
}

// CertificateSummary describes one certificate of a PEM bundle in a dump.
type CertificateSummary struct {
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	SerialNumber string    `json:"serialNumber"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
	URIs         []string  `json:"uris,omitempty"`
}

func (s *Server) dump() Dump {
	d := Dump{Version: s.cfg.Version}
	if id := s.cfg.Identity; id != nil {
		d.Identity = &IdentityDump{SPIFFEID: id.SPIFFEID(), SerialNumber: id.SerialNumber()}
		if exp := id.Expiry(); !exp.IsZero() {
			exp = exp.UTC()
			d.Identity.CertExpiry = &exp
		}
	}
	if s.cfg.XDSStatus != nil {
		d.XDS = s.cfg.XDSStatus()
	}
	if s.cfg.Config != nil {
		if c := s.cfg.Config(); c != nil {
			d.Config = plainOf(c)
		}
	}
	return d
}

// maxDepth bounds the walk of plainOf; the proxy config is a shallow tree.
const maxDepth = 32

// plainOf turns v into a value whose JSON form reads well: struct fields in declaration order
// (JSON tag names when present) with nil and empty values left out, map keys sorted,
// time.Duration as "1.5s", types with a MarshalText (regexps, times, IPs) as that text,
// integer enums with a String method by name, and []byte as a certificate summary when it holds
// PEM certificates, else as text.
func plainOf(v any) any { return plain(reflect.ValueOf(v), 0) }

var (
	durationType      = reflect.TypeFor[time.Duration]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	stringerType      = reflect.TypeFor[fmt.Stringer]()
)

func plain(v reflect.Value, depth int) any {
	if !v.IsValid() {
		return nil
	}
	if depth > maxDepth {
		return "(too deep)"
	}
	t := v.Type()
	if t == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if t.Implements(textMarshalerType) {
			return text(v)
		}
		return plain(v.Elem(), depth+1)
	}
	if t.Implements(textMarshalerType) {
		return text(v)
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t.PkgPath() != "" && t.Implements(stringerType) {
			return v.Interface().(fmt.Stringer).String()
		}
		return v.Interface()
	case reflect.Bool, reflect.Float32, reflect.Float64, reflect.String:
		return v.Interface()
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return plainBytes(v.Bytes())
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i), depth+1)
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		obj := make(object, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			obj = append(obj, member{key: fmt.Sprint(it.Key().Interface()), val: plain(it.Value(), depth+1)})
		}
		slices.SortFunc(obj, func(a, b member) int { return strings.Compare(a.key, b.key) })
		return obj
	case reflect.Struct:
		obj := make(object, 0, v.NumField())
		for i := range v.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == "-" {
				continue
			} else if tag != "" {
				name = tag
			}
			fv := v.Field(i)
			if omitted(fv) {
				continue
			}
			obj = append(obj, member{key: name, val: plain(fv, depth+1)})
		}
		return obj
	}
	return fmt.Sprintf("(%s)", t) // channels, functions: show the type only
}

// omitted reports the struct fields a dump leaves out: nil, empty and "".
func omitted(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.String:
		return v.Len() == 0
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	}
	return false
}

func text(v reflect.Value) any {
	b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return fmt.Sprintf("(%s: %v)", v.Type(), err)
	}
	return string(b)
}

// plainBytes shows PEM certificates as a summary, other text as a string, and anything else
// as base64 (the JSON default for bytes).
func plainBytes(b []byte) any {
	if certs, ok := summarizeCertificates(b); ok {
		return certs
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return b
}

// summarizeCertificates parses b as a PEM bundle of certificates only.
func summarizeCertificates(b []byte) ([]CertificateSummary, bool) {
	var out []CertificateSummary
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, false
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, false
		}
		s := CertificateSummary{
			Subject:      c.Subject.String(),
			Issuer:       c.Issuer.String(),
			SerialNumber: c.SerialNumber.Text(16),
			NotBefore:    c.NotBefore.UTC(),
			NotAfter:     c.NotAfter.UTC(),
		}
		for _, u := range c.URIs {
			s.URIs = append(s.URIs, u.String())
		}
		out = append(out, s)
		rest = bytes.TrimSpace(rest)
	}
	return out, len(out) > 0
}

// object is a JSON object that keeps its members in order.
type object []member

type member struct {
	key string
	val any
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		val, err := json.Marshal(m.val)
		if err != nil {
			return nil, fmt.Errorf("encoding %q: %w", m.key, err)
		}
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
