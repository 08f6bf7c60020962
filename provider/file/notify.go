package file

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// NotifyChange implements [credential.Notifier] with fsnotify. It watches
// the folder that holds the file — for a Kubernetes secret folder, the
// folder itself — rather than the file, because the ways secrets get
// replaced all change the folder: an editor that saves by renaming a new
// file over the old one, a delete followed by a create, and Kubernetes'
// atomic swap of the "..data" symlink, which can arrive as a Create or a
// Write on "..data" and never touch the key's own name. Any event in the
// folder calls changed, so calls may be spurious; the consumer re-reads and
// compares version IDs. A watcher error (such as a queue overflow) also
// calls changed.
//
// Each call uses its own watcher; stop closes it and waits until changed is
// no longer running.
func (p *Provider) NotifyChange(ref string, changed func()) (stop func(), err error) {
	name, _ := field.Split(ref)
	if !filepath.IsAbs(name) && p.root != "" {
		name = filepath.Join(p.root, name)
	}
	name = filepath.Clean(name)
	dir := filepath.Dir(name)
	if info, err := os.Stat(name); err == nil && info.IsDir() {
		dir = name
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, &credential.Error{Op: "watch", Ref: ref, Kind: credential.ErrUnavailable, Reason: "cannot start a file watcher", Err: err}
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, statErrorOp("watch", ref, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				changed()
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				changed()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.Close()
			<-done
		})
	}, nil
}

func statErrorOp(op, ref string, err error) error {
	e := statError(ref, err)
	if ce, ok := e.(*credential.Error); ok {
		ce.Op = op
	}
	return e
}
