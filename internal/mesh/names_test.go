package mesh

import (
	"strings"
	"testing"
)

func TestParseSPIFFEID(t *testing.T) {
	tests := []struct {
		in      string
		want    SPIFFEID
		wantErr string
	}{
		{in: "spiffe://weft.local/ns/shop/sa/backend", want: SPIFFEID{"weft.local", "shop", "backend"}},
		{in: "spiffe://prod.example.org/ns/a-1/sa/Svc_Account.v2", want: SPIFFEID{"prod.example.org", "a-1", "Svc_Account.v2"}},
		{in: "https://weft.local/ns/shop/sa/backend", wantErr: "must start with spiffe://"},
		{in: "spiffe://weft.local", wantErr: "want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://weft.local/ns/shop", wantErr: "want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://weft.local/ns/shop/sa/backend/extra", wantErr: "want spiffe://"},
		{in: "spiffe://weft.local/sa/backend/ns/shop", wantErr: "want spiffe://"},
		{in: "spiffe://Weft.Local/ns/shop/sa/backend", wantErr: `trust domain "Weft.Local": character 'W' is not allowed`},
		{in: "spiffe://weft.local:8443/ns/shop/sa/backend", wantErr: `character ':' is not allowed`},
		{in: "spiffe:///ns/shop/sa/backend", wantErr: "trust domain must not be empty"},
		{in: "spiffe://weft.local/ns/Shop/sa/backend", wantErr: `namespace "Shop" is not a DNS label`},
		{in: "spiffe://weft.local/ns/shop/sa/..", wantErr: `segment ".." is not allowed`},
		{in: "spiffe://weft.local/ns/shop/sa/a%20b", wantErr: `character '%' is not allowed`},
	}
	for _, tt := range tests {
		got, err := ParseSPIFFEID(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseSPIFFEID(%q) = %v", tt.in, err)
		case tt.wantErr == "" && (got != tt.want || got.String() != tt.in):
			t.Errorf("ParseSPIFFEID(%q) = %+v (%s), want %+v", tt.in, got, got, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseSPIFFEID(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestValidateDNSLabel(t *testing.T) {
	valid := []string{"a", "backend", "a-1", "0", strings.Repeat("x", 63)}
	invalid := []string{"", "-a", "a-", "A", "a_b", "a.b", strings.Repeat("x", 64)}
	for _, s := range valid {
		if msg := ValidateDNSLabel(s); msg != "" {
			t.Errorf("ValidateDNSLabel(%q) = %q, want valid", s, msg)
		}
	}
	for _, s := range invalid {
		if ValidateDNSLabel(s) == "" {
			t.Errorf("ValidateDNSLabel(%q) accepted it", s)
		}
	}
}
