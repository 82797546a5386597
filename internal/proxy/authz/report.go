package authz

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names.
const (
	MetricDenied = "weft_authz_denied_total"
	MetricAudit  = "weft_authz_audit_total"
)

// Values of the "result" label of weft_authz_audit_total.
const (
	// ResultAudited: a rule of an AUDIT policy (an Envoy LOG policy) matched.
	ResultAudited = "audited"
	// ResultWouldDeny: a dry-run policy (Envoy shadow rules) would have denied.
	ResultWouldDeny = "would_deny"
	// ResultWouldAllow: a dry-run policy would have let the request through.
	ResultWouldAllow = "would_allow"
)

// Reporter logs and counts what engines decide: every denial and every audit match or dry-run
// denial is one log line at info and one count.
type Reporter struct {
	log    *slog.Logger
	denied *prometheus.CounterVec
	audit  *prometheus.CounterVec
}

// NewReporter returns a Reporter logging to log (nil discards) whose metrics are registered
// with reg (nil: kept but not exported). A second Reporter on the same registry shares the
// metrics.
func NewReporter(log *slog.Logger, reg prometheus.Registerer) (*Reporter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reporter{
		log: log,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricDenied,
			Help: "Requests and connections denied by authorization policies, by policy " +
				"(the AuthorizationPolicy, namespace/name, whose rule denied or whose ALLOW rules did not match).",
		}, []string{"policy"}),
		audit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAudit,
			Help: "Requests and connections reported by AUDIT and dry-run authorization policies, by policy and " +
				"result (audited, would_deny, would_allow).",
		}, []string{"policy", "result"}),
	}
	if reg == nil {
		return r, nil
	}
	var err error
	if r.denied, err = register(reg, r.denied); err != nil {
		return nil, err
	}
	if r.audit, err = register(reg, r.audit); err != nil {
		return nil, err
	}
	return r, nil
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("registering authorization metrics: %w", err)
	}
	return c, nil
}

func (r *Reporter) deniedCounter(policy string) prometheus.Counter {
	return r.denied.WithLabelValues(policy)
}

func (r *Reporter) auditCounter(policy, result string) prometheus.Counter {
	return r.audit.WithLabelValues(policy, result)
}

func (r *Reporter) deny(policy, rule string, c prometheus.Counter, in *Input) {
	c.Inc()
	r.log.Info(what(in)+" denied by authorization policy", r.attrs(policy, rule, in)...)
}

func (r *Reporter) wouldDeny(policy, rule string, c prometheus.Counter, in *Input) {
	c.Inc()
	r.log.Info("dry run: authorization policy would deny "+what(in), r.attrs(policy, rule, in)...)
}

func (r *Reporter) audited(policy, rule string, c prometheus.Counter, in *Input) {
	c.Inc()
	r.log.Info("audit: authorization policy matched "+what(in), r.attrs(policy, rule, in)...)
}

func what(in *Input) string {
	if in.Request == nil {
		return "connection"
	}
	return "request"
}

// attrs are the log attributes of a report: the policy, the rule (or that no ALLOW rule
// matched), the caller, and the request's method and normalised path or the connection's port.
func (r *Reporter) attrs(policy, rule string, in *Input) []any {
	if rule == "" {
		rule = "none matched"
	}
	caller := in.Peer
	switch {
	case !in.Authenticated:
		caller = "none (plaintext)"
	case caller == "":
		caller = "none (certificate without URI SAN)"
	}
	if in.Request == nil {
		return []any{"policy", policy, "rule", rule, "caller", caller, "port", in.Port}
	}
	return []any{"policy", policy, "rule", rule, "caller", caller, "method", string(in.Method), "path", string(in.Path)}
}
