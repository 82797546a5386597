package authz

import (
	"bytes"
	"errors"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{in: "/", want: "/"},
		{in: "/admin/x", want: "/admin/x"},
		{in: "//admin/x", want: "/admin/x"},
		{in: "/admin//x//", want: "/admin/x/"},
		{in: "/./admin/x", want: "/admin/x"},
		{in: "/public/../admin/x", want: "/admin/x"},
		{in: "/%61dmin/x", want: "/admin/x"},
		{in: "/%2e%2e/admin/x", want: "/admin/x"},
		{in: "/%2E/admin/%2e", want: "/admin/"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a/b/../..", want: "/"},
		{in: "/../../a", want: "/a"},
		{in: "/a/.", want: "/a/"},
		{in: "/a/.b/..c/...", want: "/a/.b/..c/..."},
		{in: "/ADMIN/x", want: "/ADMIN/x"},
		{in: "/admin;x", want: "/admin;x"},
		{in: "/a%20b%3f%c3%A9", want: "/a%20b%3F%C3%A9"},
		{in: "/%7e%5f%2d%2E", want: "/~_-."},
		{in: "/a/..%2f..", err: ErrEncodedSlash},
		{in: "/admin%2fx", err: ErrEncodedSlash},
		{in: "/admin%2Fx", err: ErrEncodedSlash},
		{in: "/admin%5cx", err: ErrEncodedSlash},
		{in: "/admin\\x", err: ErrBadPath},
		{in: "/a%zz", err: ErrBadPath},
		{in: "/a%2", err: ErrBadPath},
		{in: "/a%", err: ErrBadPath},
		{in: "/a b", err: ErrBadPath},
		{in: "/a\x7f", err: ErrBadPath},
		{in: "a/b", err: ErrBadPath},
		{in: "", err: ErrBadPath},
	}
	for _, tt := range tests {
		got, err := NormalizePath(nil, []byte(tt.in))
		if !errors.Is(err, tt.err) {
			t.Errorf("NormalizePath(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && string(got) != tt.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizePathReusesTheBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	in := []byte("/public/../%61dmin//x")
	allocs := testing.AllocsPerRun(100, func() {
		out, err := NormalizePath(buf, in)
		if err != nil || string(out) != "/admin/x" {
			t.Fatalf("NormalizePath = %q, %v", out, err)
		}
	})
	if allocs != 0 {
		t.Errorf("NormalizePath with a large enough buffer allocates %.1f times, want 0", allocs)
	}
}

// FuzzNormalizePath checks the properties of the normal form: it starts with "/", has no
// empty, "." or ".." segment but a trailing slash, no encoded slash or backslash, no encoded
// unreserved character, percent-encodings in upper case, and normalising it again changes
// nothing. The seeds (testdata/fuzz/FuzzNormalizePath) run in every go test.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "//a//b/", "/a/./b/../c", "/%2e%2e/%61", "/%2f", "/a%5Cb", "/%c3%a9", "/..", "/a;b", "/%"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := NormalizePath(nil, in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) && !errors.Is(err, ErrEncodedSlash) {
				t.Fatalf("NormalizePath(%q): unexpected error %v", in, err)
			}
			return
		}
		if len(out) == 0 || out[0] != '/' {
			t.Fatalf("NormalizePath(%q) = %q: does not start with /", in, out)
		}
		segs := bytes.Split(out[1:], []byte("/"))
		for i, seg := range segs {
			if len(seg) == 0 && i != len(segs)-1 {
				t.Fatalf("NormalizePath(%q) = %q: empty segment", in, out)
			}
			if string(seg) == "." || string(seg) == ".." {
				t.Fatalf("NormalizePath(%q) = %q: dot segment", in, out)
			}
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			if c == '\\' || c <= ' ' || c >= 0x7f {
				t.Fatalf("NormalizePath(%q) = %q: byte %q", in, out, c)
			}
			if c != '%' {
				continue
			}
			if i+2 >= len(out) {
				t.Fatalf("NormalizePath(%q) = %q: truncated escape", in, out)
			}
			hi, lo := unhex(out[i+1]), unhex(out[i+2])
			if hi < 0 || lo < 0 || out[i+1] >= 'a' || out[i+2] >= 'a' {
				t.Fatalf("NormalizePath(%q) = %q: escape %q not upper-case hex", in, out, out[i:i+3])
			}
			if b := byte(hi<<4 | lo); b == '/' || b == '\\' || unreserved(b) {
				t.Fatalf("NormalizePath(%q) = %q: escape %q should not be there", in, out, out[i:i+3])
			}
		}
		again, err := NormalizePath(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("NormalizePath is not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}
