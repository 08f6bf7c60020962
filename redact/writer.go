package redact

import (
	"bytes"
	"io"
	"sync"
)

// Writer is an io.Writer that redacts what passes through it, for the
// standard log package, a subprocess's stderr and any plain output. It
// works a line at a time: text is held until its newline arrives, so a
// secret split across two Write calls is still caught.
//
// A private key block (PEM: RSA, EC, OPENSSH, PKCS#8, encrypted; PGP
// private key blocks) is redacted from its BEGIN line to its END line
// however it arrives: in one Write, or one line per Write as a subprocess
// writes it. Nothing of a block is written until its END line (or 64 KiB of
// it without one) has passed.
//
// A line longer than 1 MiB is written without waiting for its end: it is
// cut at a space or at the edge of a token, never inside a secret, and
// what follows the cut is held with the rest of the line. Call Flush (or
// Close) to write a last line that has no newline.
type Writer struct {
	w     io.Writer
	r     *Redactor
	mu    sync.Mutex
	b     []byte
	inKey int // >0: inside a private key block; the bytes dropped so far
	ctx   []byte
}

// maxLine bounds what a Writer holds back; maxBlock what it drops of a
// key block that has no END line.
const (
	maxLine  = 1 << 20
	maxBlock = 64 << 10
)

// Writer returns a Writer that redacts into w:
//
//	log.SetOutput(r.Writer(os.Stderr))
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{w: w, r: r} }

// Write redacts the complete lines in p (with what earlier calls held) and
// writes them. It reports len(p) when they were written.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	held := len(w.b)
	w.b = append(w.b, p...)
	i := bytes.LastIndexByte(p, '\n') // only p: what is held has none
	if i >= 0 {
		i += held
		if err := w.emit(w.b[:i+1]); err != nil {
			return 0, err
		}
		w.b = append(w.b[:0], w.b[i+1:]...)
	}
	for len(w.b) >= maxLine {
		c := w.cut()
		if err := w.emit(w.b[:c]); err != nil {
			return 0, err
		}
		w.b = append(w.b[:0], w.b[c:]...)
	}
	return len(p), nil
}

// cut picks where to split a line of maxLine bytes or more: after the last
// space (or other byte no token is made of) in its second half, moved back
// to the start of any secret that spans it.
func (w *Writer) cut() int {
	b := w.b
	c := -1
	for i := len(b) - 1; i >= len(b)/2; i-- {
		if !jwtCh[b[i]] && b[i] != '+' && b[i] != '/' {
			c = i + 1
			break
		}
	}
	if c < 0 {
		c = len(b) - maxLine/16
	}
	sp := w.r.spans(unsafeString(b), nil)
	for _, s := range sp {
		if s.start < c && c < s.end || s.end == len(b) && s.start < c {
			if s.start > 0 {
				c = s.start
			} else {
				c = s.end
			}
		}
	}
	return c
}

var (
	beginMark = []byte("-----BEGIN ")
	endMark   = []byte("-----END ")
	dashes    = []byte("-----")
)

func (w *Writer) emit(p []byte) error {
	if w.inKey > 0 {
		k := bytes.Index(p, endMark)
		if k < 0 {
			w.inKey += len(p)
			if w.inKey > maxBlock {
				w.inKey = 0
			}
			return nil
		}
		end := k + len(endMark)
		if d := bytes.Index(p[end:], dashes); d >= 0 {
			end += d + len(dashes)
		}
		w.inKey = 0
		w.ctx = w.ctx[:0] // the block is no context for what follows
		p = p[end:]
		if len(p) == 0 {
			return nil
		}
	}
	// A block that opens here and has not ended by the end of p goes on.
	if b := bytes.LastIndex(p, beginMark); b >= 0 {
		rest := p[b+len(beginMark):]
		if d := bytes.Index(rest, dashes); d >= 0 && d < 64 && bytes.Contains(rest[:d], []byte("PRIVATE KEY")) &&
			!bytes.Contains(rest, endMark) {
			w.inKey = len(p) - b
		}
	}
	// The lines before p are read again as context (.netrc's "login" on the
	// line above "password"), and only p is written.
	ctx := len(w.ctx)
	full := append(w.ctx, p...)
	sp := w.r.spans(unsafeString(full), nil)
	kept := sp[:0]
	for _, x := range sp {
		if x.end > ctx {
			x.start = max(x.start, ctx)
			kept = append(kept, x)
		}
	}
	var out []byte
	if len(kept) == 0 {
		out = p
	} else {
		// Every span starts at or after ctx: what precedes is ctx itself.
		out = []byte(w.r.apply(unsafeString(full), kept)[ctx:])
	}
	// Keep up to the last 256 bytes that end a line as context.
	keep := full
	if len(keep) > maxContext {
		keep = keep[len(keep)-maxContext:]
	}
	w.ctx = append(w.ctx[:0:0], keep...)
	if w.inKey > 0 || bytes.Contains(w.ctx, beginMark) {
		w.ctx = w.ctx[:0]
	}
	_, err := w.w.Write(out)
	return err
}

// maxContext is how much of what was written a Writer reads again before
// the next lines.
const maxContext = 256

// Flush writes what is held.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.b) == 0 {
		return nil
	}
	err := w.emit(w.b)
	w.b = w.b[:0]
	return err
}

// Close flushes. It does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }
