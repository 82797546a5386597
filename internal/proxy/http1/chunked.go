package http1

import (
	"bufio"
	"errors"
)

const (
	// maxChunkLine bounds a chunk-size line, extensions included.
	maxChunkLine = 4096
	// maxChunkExtBytes bounds the chunk extensions of one body, so that a peer cannot make the
	// proxy parse an unbounded amount of framing per byte of data.
	maxChunkExtBytes = 16 << 10
	// maxChunkHexDigits keeps sizes far from overflow (2^60 bytes is more than anything real).
	maxChunkHexDigits = 15
)

// chunkMode says what copyChunked writes.
type chunkMode uint8

const (
	rechunk chunkMode = iota // forward as chunked: normalized size lines, data, trailers
	dechunk                  // forward the data only (for an HTTP/1.0 client)
)

// copyChunked reads a chunked body from src, validating every line, and writes it to dst as
// mode says. Chunk extensions are checked and dropped; trailer fields are checked and passed
// through in rechunk mode. maxTrailer bounds the trailer section. A malformed body fails with a
// *ProtocolError in rerr; werr reports a failure to write.
func copyChunked(dst *bufio.Writer, src *reader, mode chunkMode, scratch *[]byte, maxTrailer int) (rerr, werr error) {
	rerr, werr = copyChunks(dst, src, mode, scratch, maxTrailer)
	return splitFlushError(rerr, werr)
}

func copyChunks(dst *bufio.Writer, src *reader, mode chunkMode, scratch *[]byte, maxTrailer int) (rerr, werr error) {
	extBytes := 0
	for {
		line, err := src.readLine(maxChunkLine, errChunkLineLong)
		if err != nil {
			return err, nil
		}
		size, ext, err := parseChunkSize(line)
		if err != nil {
			return err, nil
		}
		if extBytes += ext; extBytes > maxChunkExtBytes {
			return errBadChunkExt, nil
		}
		if size == 0 {
			return copyTrailers(dst, src, mode, maxTrailer)
		}
		if mode == rechunk {
			writeHex(dst, size)
			_, _ = dst.WriteString("\r\n")
		}
		if _, rerr, werr := src.copyN(dst, int64(size), scratch); rerr != nil || werr != nil {
			return rerr, werr
		}
		if err := src.expectCRLF(); err != nil {
			return err, nil
		}
		if mode == rechunk {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return nil, err
			}
		}
	}
}

func copyTrailers(dst *bufio.Writer, src *reader, mode chunkMode, maxTrailer int) (rerr, werr error) {
	n, err := src.readBlock(maxTrailer, false, false)
	if err != nil {
		if errors.Is(err, errHeadTooLarge) {
			err = errTrailersTooLong
		}
		return err, nil
	}
	block := src.buf[src.r : src.r+n]
	if err := checkFields(block); err != nil {
		return err, nil
	}
	if mode == rechunk {
		_, _ = dst.WriteString("0\r\n")
		if _, err := dst.Write(block); err != nil {
			return nil, err
		}
	}
	src.consume(n)
	return nil, nil
}

// parseChunkSize parses "chunk-size [chunk-ext]" (RFC 9112 7.1) and returns the size and the
// length of the extensions.
func parseChunkSize(line []byte) (size uint64, extLen int, err error) {
	i := 0
	for ; i < len(line); i++ {
		d, ok := hexDigit(line[i])
		if !ok {
			break
		}
		if i == maxChunkHexDigits {
			return 0, 0, errBadChunkSize
		}
		size = size<<4 | uint64(d)
	}
	if i == 0 {
		return 0, 0, errBadChunkSize
	}
	if err := checkChunkExt(line[i:]); err != nil {
		return 0, 0, err
	}
	return size, len(line) - i, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkChunkExt validates *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), where ext-val is
// a token or a quoted-string.
func checkChunkExt(b []byte) error {
	skipBWS := func() {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
	}
	token := func() bool {
		n := 0
		for n < len(b) && charClass[b[n]]&cToken != 0 {
			n++
		}
		b = b[n:]
		return n > 0
	}
	for {
		if len(b) == 0 {
			return nil
		}
		skipBWS()
		if len(b) == 0 || b[0] != ';' {
			// Whitespace or anything else that does not start an extension.
			return errBadChunkSize
		}
		b = b[1:]
		skipBWS()
		if !token() {
			return errBadChunkExt
		}
		skipBWS()
		if len(b) == 0 || b[0] != '=' {
			continue
		}
		b = b[1:]
		skipBWS()
		if len(b) > 0 && b[0] == '"' {
			n, ok := quotedString(b)
			if !ok {
				return errBadChunkExt
			}
			b = b[n:]
		} else if !token() {
			return errBadChunkExt
		}
	}
}

// quotedString returns the length of the quoted-string at the start of b.
func quotedString(b []byte) (int, bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i == len(b) || (charClass[b[i]]&cValue == 0) {
				return 0, false
			}
		case charClass[c]&cValue == 0:
			return 0, false
		}
	}
	return 0, false
}

// expectCRLF consumes the CRLF that must follow chunk data.
func (b *reader) expectCRLF() error {
	for b.w-b.r < 2 {
		if err := b.fill(); err != nil {
			return err
		}
	}
	if b.buf[b.r] != '\r' || b.buf[b.r+1] != '\n' {
		return errBadChunkEnd
	}
	b.r += 2
	return nil
}

// writeHex writes n in lower-case hexadecimal without allocating.
func writeHex(w *bufio.Writer, n uint64) {
	const digits = "0123456789abcdef"
	shift := 0
	for n>>shift >= 16 {
		shift += 4
	}
	for ; shift >= 0; shift -= 4 {
		_ = w.WriteByte(digits[(n>>shift)&0xf])
	}
}
