package mesh

import (
	"fmt"
	"strings"
)

// ValidateDNSLabel checks that s is an RFC 1123 label: at most 63 lower-case letters, digits
// and '-', starting and ending with a letter or digit. It returns a message, or "" when s is
// valid.
func ValidateDNSLabel(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > 63:
		return fmt.Sprintf("%q is longer than 63 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return fmt.Sprintf("%q is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)", s)
		}
	}
	return ""
}

// validateHostname checks a DNS name of dot-separated labels, at most 253 characters; when
// wildcard is true, a leading "*." is allowed.
func validateHostname(s string, wildcard bool) string {
	name := s
	if wildcard {
		name = strings.TrimPrefix(s, "*.")
	}
	if name == "" || len(s) > 253 {
		return fmt.Sprintf("%q is not a valid hostname", s)
	}
	for _, label := range strings.Split(name, ".") {
		if ValidateDNSLabel(label) != "" {
			return fmt.Sprintf("%q is not a valid hostname (lower-case DNS labels separated by dots)", s)
		}
	}
	return ""
}

// ValidateTrustDomain checks a SPIFFE trust domain name: lower-case letters, digits, '.',
// '-' and '_', at most 255 characters. It returns an error naming what is wrong.
func ValidateTrustDomain(td string) error {
	switch {
	case td == "":
		return fmt.Errorf("trust domain must not be empty")
	case len(td) > 255:
		return fmt.Errorf("trust domain %q is longer than 255 characters", td)
	}
	for _, c := range td {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("trust domain %q: character %q is not allowed (lower-case letters, digits, '.', '-', '_')", td, c)
		}
	}
	return nil
}

// validateSPIFFESegment checks one path segment of a SPIFFE ID.
func validateSPIFFESegment(s string) error {
	if s == "" || s == "." || s == ".." {
		return fmt.Errorf("segment %q is not allowed", s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("segment %q: character %q is not allowed (letters, digits, '.', '-', '_')", s, c)
		}
	}
	return nil
}

// ValidateServiceAccount checks a service account name: it becomes a SPIFFE ID path segment.
func ValidateServiceAccount(sa string) error {
	if len(sa) > 253 {
		return fmt.Errorf("service account %q is longer than 253 characters", sa)
	}
	if err := validateSPIFFESegment(sa); err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	return nil
}

// SPIFFEID is a workload identity of the form spiffe://<trust-domain>/ns/<namespace>/sa/<sa>.
type SPIFFEID struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// String renders the ID as a URI.
func (id SPIFFEID) String() string {
	return "spiffe://" + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// ParseSPIFFEID parses a workload identity. Only the form
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> is accepted, with a valid
// trust domain, a DNS-label namespace and a valid service account name.
func ParseSPIFFEID(s string) (SPIFFEID, error) {
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: must start with spiffe://", s)
	}
	td, path, ok := strings.Cut(rest, "/")
	if !ok {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", s)
	}
	if err := ValidateTrustDomain(td); err != nil {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: %w", s, err)
	}
	parts := strings.Split(path, "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", s)
	}
	if msg := ValidateDNSLabel(parts[1]); msg != "" {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: namespace %s", s, msg)
	}
	if err := ValidateServiceAccount(parts[3]); err != nil {
		return SPIFFEID{}, fmt.Errorf("SPIFFE ID %q: %w", s, err)
	}
	return SPIFFEID{TrustDomain: td, Namespace: parts[1], ServiceAccount: parts[3]}, nil
}
