package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t *testing.T, path string) *Bolt {
	t.Helper()
	s, err := OpenBolt(BoltConfig{Path: path, Now: func() time.Time { return t0 }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, path)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func svc(t *testing.T, ns, name string, port int32, labels string) *mesh.Resource {
	t.Helper()
	doc := `{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Service","metadata":{"name":"` + name + `","namespace":"` + ns +
		`","labels":{` + labels + `}},"spec":{"ports":[{"port":` + strconv.Itoa(int(port)) + `}]}}`
	r, err := mesh.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func actions(results []Result) []string {
	out := make([]string, len(results))
	for i, r := range results {
		out[i] = r.Key.String() + " " + string(r.Action)
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestApplyActionsAndMetadata(t *testing.T) {
	s, _ := newStore(t)
	steps := []struct {
		name     string
		batch    []*mesh.Resource
		want     []string
		wantGen  int64
		wantRV   string
		wantRev  uint64
		notified bool
	}{
		{"create", []*mesh.Resource{svc(t, "shop", "a", 80, ""), svc(t, "shop", "b", 80, "")},
			[]string{"Service shop/a created", "Service shop/b created"}, 1, "1", 1, true},
		{"same again", []*mesh.Resource{svc(t, "shop", "a", 80, "")},
			[]string{"Service shop/a unchanged"}, 1, "1", 1, false},
		{"labels only", []*mesh.Resource{svc(t, "shop", "a", 80, `"team":"x"`)},
			[]string{"Service shop/a configured"}, 1, "2", 2, true},
		{"spec", []*mesh.Resource{svc(t, "shop", "a", 81, `"team":"x"`)},
			[]string{"Service shop/a configured"}, 2, "3", 3, true},
	}
	ch, unsubscribe := s.Subscribe()
	defer unsubscribe()
	for _, st := range steps {
		results, err := s.Apply(ctx(t), st.batch, ApplyOptions{})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, actions(results)); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", st.name, diff)
		}
		got, err := s.Get(ctx(t), mesh.Key{Kind: mesh.KindService, Namespace: "shop", Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		meta := got.StoreMeta()
		if meta.Generation != st.wantGen || meta.ResourceVersion != st.wantRV || !meta.CreationTimestamp.Equal(t0) {
			t.Errorf("%s: metadata = %+v, want generation %d, resourceVersion %s, created %v", st.name, meta, st.wantGen, st.wantRV, t0)
		}
		if s.Revision() != st.wantRev {
			t.Errorf("%s: revision = %d, want %d", st.name, s.Revision(), st.wantRev)
		}
		select {
		case <-ch:
			if !st.notified {
				t.Errorf("%s: subscribers were signalled for a no-op", st.name)
			}
		default:
			if st.notified {
				t.Errorf("%s: subscribers were not signalled", st.name)
			}
		}
	}
}

func TestApplyIsAllOrNothing(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Apply(ctx(t), []*mesh.Resource{svc(t, "shop", "a", 80, "")}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused by the check")
	var seen []string
	_, err := s.Apply(ctx(t), []*mesh.Resource{svc(t, "shop", "b", 80, ""), svc(t, "shop", "a", 90, "")}, ApplyOptions{
		Check: func(current []*mesh.Resource) error {
			for _, r := range current {
				seen = append(seen, r.Key().String())
			}
			return refused
		},
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Apply error = %v, want the check's error", err)
	}
	if diff := cmp.Diff([]string{"Service shop/a"}, seen); diff != "" {
		t.Errorf("the check saw (-want +got):\n%s", diff)
	}
	all, err := s.List(ctx(t), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Object.(*v1alpha1.Service).Spec.Ports[0].Port != 80 || s.Revision() != 1 {
		t.Errorf("a refused apply changed the store: %d resources, revision %d", len(all), s.Revision())
	}
}

func TestApplyDryRun(t *testing.T) {
	s, _ := newStore(t)
	results, err := s.Apply(ctx(t), []*mesh.Resource{svc(t, "shop", "a", 80, "")}, ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Service shop/a created"}, actions(results)); diff != "" {
		t.Errorf("dry-run actions (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx(t), results[0].Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a dry run, Get = %v, want not found", err)
	}
	if s.Revision() != 0 {
		t.Errorf("a dry run moved the revision to %d", s.Revision())
	}
}

func TestGetListDelete(t *testing.T) {
	s, _ := newStore(t)
	mustApply := func(rs ...*mesh.Resource) {
		t.Helper()
		if _, err := s.Apply(ctx(t), rs, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	meshRes, err := mesh.Decode([]byte(`{"apiVersion":"mesh.weft.dev/v1alpha1","kind":"Mesh","metadata":{"name":"default"},"spec":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(svc(t, "shop", "b", 80, ""), svc(t, "default", "z", 80, ""), svc(t, "shop", "a", 80, ""), meshRes)

	keys := func(rs []*mesh.Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Key().String())
		}
		return out
	}
	tests := []struct {
		kind, ns string
		want     []string
	}{
		{"", "", []string{"Mesh default", "Service default/z", "Service shop/a", "Service shop/b"}},
		{mesh.KindService, "", []string{"Service default/z", "Service shop/a", "Service shop/b"}},
		{mesh.KindService, "shop", []string{"Service shop/a", "Service shop/b"}},
		{mesh.KindService, "sho", nil},
		{mesh.KindGateway, "", nil},
		{mesh.KindMesh, "", []string{"Mesh default"}},
	}
	for _, tt := range tests {
		got, err := s.List(ctx(t), tt.kind, tt.ns)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, keys(got)); diff != "" {
			t.Errorf("List(%q, %q) (-want +got):\n%s", tt.kind, tt.ns, diff)
		}
	}

	key := mesh.Key{Kind: mesh.KindService, Namespace: "shop", Name: "a"}
	inUse := errors.New("in use")
	if err := s.Delete(ctx(t), key, DeleteOptions{Check: func([]*mesh.Resource) error { return inUse }}); !errors.Is(err, inUse) {
		t.Fatalf("Delete with a refusing check = %v", err)
	}
	if _, err := s.Get(ctx(t), key); err != nil {
		t.Fatalf("a refused delete removed the resource: %v", err)
	}
	rev := s.Revision()
	if err := s.Delete(ctx(t), key, DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.Revision() != rev+1 {
		t.Errorf("revision after delete = %d, want %d", s.Revision(), rev+1)
	}
	_, err = s.Get(ctx(t), key)
	var nf *NotFoundError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &nf) || nf.Key != key {
		t.Errorf("Get after delete = %v, want a NotFoundError for %v", err, key)
	}
	if err := s.Delete(ctx(t), key, DeleteOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want not found", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, path)
	if _, err := s.Apply(ctx(t), []*mesh.Resource{svc(t, "shop", "a", 80, `"team":"x"`), svc(t, "shop", "b", 81, "")}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := s.List(ctx(t), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("store file mode = %v, want 0600", info.Mode().Perm())
	}

	s = openTest(t, path)
	defer s.Close()
	after, err := s.List(ctx(t), "", "")
	if err != nil {
		t.Fatal(err)
	}
	encode := func(rs []*mesh.Resource) []string {
		var out []string
		for _, r := range rs {
			raw, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(raw))
		}
		return out
	}
	if diff := cmp.Diff(encode(before), encode(after)); diff != "" {
		t.Errorf("content changed across a restart (-before +after):\n%s", diff)
	}
	if s.Revision() != 1 {
		t.Errorf("revision after restart = %d, want 1", s.Revision())
	}
}

func TestCanceledContext(t *testing.T) {
	s, _ := newStore(t)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(c, []*mesh.Resource{svc(t, "shop", "a", 80, "")}, ApplyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a canceled context = %v", err)
	}
	if _, err := s.List(c, "", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context = %v", err)
	}
}

func TestNotifierCoalescesAndUnsubscribes(t *testing.T) {
	var n Notifier
	ch, cancel := n.Subscribe()
	n.Notify()
	n.Notify() // coalesced with the first
	<-ch
	select {
	case <-ch:
		t.Fatal("two notifications were not coalesced")
	default:
	}
	cancel()
	cancel() // idempotent
	n.Notify()
	if _, open := <-ch; open {
		t.Fatal("the channel is still open after unsubscribing")
	}
}
