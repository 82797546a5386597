package demo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Each proxy of the demo gets a token for the identity it registers with: its service's
// service account (weft-proxy's default), or the gateway's name.
func TestTokenIdentities(t *testing.T) {
	p, err := newPlan(demoApps, "ingress", 8080, seqPorts(20000, portsNeeded(demoApps)))
	if err != nil {
		t.Fatal(err)
	}
	want := []tokenIdentity{
		{logName: "purchase-history-v1-proxy", serviceAccount: "purchase-history"},
		{logName: "recommendation-v1-proxy", serviceAccount: "recommendation"},
		{logName: "recommendation-v2-proxy", serviceAccount: "recommendation"},
		{logName: "web-api-v1-proxy", serviceAccount: "web-api"},
		{logName: "gateway-ingress", serviceAccount: "ingress"},
	}
	if diff := cmp.Diff(want, p.tokenIdentities(), cmp.AllowUnexported(tokenIdentity{})); diff != "" {
		t.Errorf("token identities (-want +got):\n%s", diff)
	}
}
