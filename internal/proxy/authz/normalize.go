package authz

import "errors"

// Errors of NormalizePath. Both are answered 400: the proxy refuses what it would have to
// guess about rather than guess.
var (
	// ErrEncodedSlash: the path has an encoded slash or backslash (%2F, %5C, in any case),
	// which servers read differently (as a separator or as a character of a segment).
	ErrEncodedSlash = errors.New("the path has an encoded slash or backslash")
	// ErrBadPath: the path does not start with "/", or has a backslash, a malformed
	// percent-encoding or a character that must be percent-encoded.
	ErrBadPath = errors.New("the path is malformed")
)

// NormalizePath appends to dst[:0] the normal form of path (the path of a request-target,
// without its query) and returns it. It does what Envoy's normalize_path and merge_slashes do,
// so that a policy and the application read the same path:
//
//   - percent-encoded unreserved characters (RFC 3986: letters, digits, '-', '.', '_', '~')
//     are decoded, and the remaining percent-encodings are written in upper case;
//   - repeated slashes are merged;
//   - "." and ".." segments are resolved (RFC 3986 5.2.4), after decoding, so that "%2e%2e"
//     is ".."; ".." never climbs above the root.
//
// It refuses (ErrEncodedSlash) an encoded '/' or '\', and (ErrBadPath) a path that does not
// start with '/', a literal '\', a '%' not followed by two hexadecimal digits, and bytes that
// a request-target cannot carry (controls, space, non-ASCII). Case is kept: "/ADMIN" stays
// "/ADMIN". It allocates only when dst is too small.
func NormalizePath(dst, path []byte) ([]byte, error) {
	if len(path) == 0 || path[0] != '/' {
		return dst[:0], ErrBadPath
	}
	out := append(dst[:0], '/')
	n := len(path)
	for pos := 1; pos <= n; {
		end := pos
		for end < n && path[end] != '/' {
			end++
		}
		segStart := len(out)
		var err error
		out, err = appendDecoded(out, path[pos:end])
		if err != nil {
			return out[:0], err
		}
		seg := out[segStart:]
		switch {
		case len(seg) == 0:
			// An empty segment: a repeated or trailing slash, already written.
		case len(seg) == 1 && seg[0] == '.':
			out = out[:segStart]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			out = out[:segStart]
			// out ends with the slash before this segment: drop the segment before it.
			if len(out) > 1 {
				i := len(out) - 2
				for i > 0 && out[i] != '/' {
					i--
				}
				out = out[:i+1]
			}
		default:
			if end < n {
				out = append(out, '/')
			}
		}
		pos = end + 1
	}
	return out, nil
}

// appendDecoded appends a path segment with its unreserved characters decoded and its other
// percent-encodings in upper case.
func appendDecoded(out, seg []byte) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) {
				return out, ErrBadPath
			}
			hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
			if hi < 0 || lo < 0 {
				return out, ErrBadPath
			}
			b := byte(hi<<4 | lo)
			switch {
			case b == '/' || b == '\\':
				return out, ErrEncodedSlash
			case unreserved(b):
				out = append(out, b)
			default:
				out = append(out, '%', upperHex[hi], upperHex[lo])
			}
			i += 2
		case c == '\\' || c <= ' ' || c >= 0x7f:
			return out, ErrBadPath
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unreserved reports an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
