package redact

import (
	"bytes"
	"io"
	"sync"
)

// Writer is an io.Writer that redacts what passes through it, for the
// standard log package and any plain output. It works a line at a time:
// text is held until its newline arrives, so a secret split across two
// Write calls is still caught. A line longer than 1 MiB is redacted and
// written without waiting for its end. Call Flush (or Close) to write a
// last line that has no newline.
type Writer struct {
	w  io.Writer
	r  *Redactor
	mu sync.Mutex
	b  []byte
}

// maxLine bounds what a Writer holds back.
const maxLine = 1 << 20

// Writer returns a Writer that redacts into w:
//
//	log.SetOutput(r.Writer(os.Stderr))
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{w: w, r: r} }

// Write redacts the complete lines in p (with what earlier calls held) and
// writes them. It reports len(p) when they were written.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	i := bytes.LastIndexByte(w.b, '\n')
	if i < 0 && len(w.b) < maxLine {
		return len(p), nil
	}
	end := i + 1
	if i < 0 {
		end = len(w.b)
	}
	if err := w.emit(w.b[:end]); err != nil {
		return 0, err
	}
	w.b = append(w.b[:0], w.b[end:]...)
	return len(p), nil
}

func (w *Writer) emit(p []byte) error {
	_, err := w.w.Write(w.r.Bytes(p))
	return err
}

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
