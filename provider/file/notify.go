package file

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/credkit/credkit/credential"
)

// folderWatch is one fsnotify watcher on one folder, shared by every
// NotifyChange call whose ref lives in that folder.
type folderWatch struct {
	w    *fsnotify.Watcher
	dir  string
	done chan struct{} // closed when the event loop has returned
	// lost is set when the watch stopped seeing changes: the folder itself
	// was removed or moved away, or the watcher failed for another reason
	// than a queue overflow (which only loses events, and calls everyone).
	lost atomic.Bool

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// subscription is one NotifyChange call.
type subscription struct {
	name    string // base name of the file, or "" for any change in the folder
	changed func()

	mu      sync.Mutex // held while changed runs; stop takes it to wait
	stopped bool
}

// relevant reports whether an event on base may change the subscription's
// secret: its own name (write, rename over it, delete, create), the
// Kubernetes "..data" link and its temporary twin, or anything when the
// subscription covers the whole folder.
func (s *subscription) relevant(base string) bool {
	return s.name == "" || base == s.name || strings.HasPrefix(base, "..data")
}

func (s *subscription) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.changed()
	}
}

// NotifyChange implements [credential.Notifier] with fsnotify. It watches
// the folder that holds the file — for a Kubernetes secret folder, the
// folder itself — rather than the file, because the ways secrets get
// replaced all change the folder: an editor that saves by renaming a new
// file over the old one, a delete followed by a create, and Kubernetes'
// atomic swap of the "..data" symlink, which arrives as a Create or a Write
// on "..data" and never touches the key's own name. Events on the file's
// name and on "..data" count; events on other files of the folder do not.
// A burst of events (an editor's save, kubelet's swap) is coalesced into one
// call after a quiet period (see [WithDebounce]); calls may still be
// spurious, so the consumer re-reads and compares version IDs. A watcher
// error, such as a queue overflow, also calls changed.
//
// A file that is a symbolic link into another folder is watched in both
// folders. All refs in one folder share one watcher, closed when the last
// of them stops. stop unregisters and waits until changed is not running; it is
// idempotent, and must not be called from inside changed.
func (p *Provider) NotifyChange(ref string, changed func()) (stop func(), err error) {
	if changed == nil {
		return nil, &credential.Error{Op: "watch", Ref: ref, Kind: credential.ErrInvalid, Reason: "no function to call on change"}
	}
	name, fld, _, err := p.entry("watch", ref)
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Dir(name), filepath.Base(name)
	if info, err := os.Stat(name); err == nil && info.IsDir() {
		// A Kubernetes secret folder: the key is a file in it.
		dir, base = name, fld
	}
	type watched struct {
		dir string
		fw  *folderWatch
		sub *subscription
	}
	var all []watched
	unwatchAll := func() {
		for _, w := range all {
			p.unwatch(w.dir, w.fw, w.sub)
			w.sub.mu.Lock()
			w.sub.stopped = true
			w.sub.mu.Unlock()
		}
	}
	folders := [][2]string{{dir, base}}
	if base == filepath.Base(name) {
		// A file that is a symbolic link to another folder (/etc/app/key ->
		// /run/secrets/key) changes there: watch that folder too. A link
		// into a subfolder of dir (Kubernetes' ..data) is already covered.
		if resolved, err := filepath.EvalSymlinks(name); err == nil {
			if rdir := filepath.Dir(resolved); !within(dir, rdir) {
				folders = append(folders, [2]string{rdir, filepath.Base(resolved)})
			}
		}
	}
	for _, f := range folders {
		sub := &subscription{name: f[1], changed: changed}
		fw, err := p.watch(f[0], sub)
		if err != nil {
			unwatchAll()
			return nil, statErrorOp("watch", ref, err)
		}
		all = append(all, watched{f[0], fw, sub})
	}
	var once sync.Once
	return func() { once.Do(unwatchAll) }, nil
}

// watch adds sub to the watcher of dir, starting one if needed.
func (p *Provider) watch(dir string, sub *subscription) (*folderWatch, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if fw, ok := p.watches[dir]; ok {
		fw.mu.Lock()
		fw.subs[sub] = struct{}{}
		fw.mu.Unlock()
		return fw, nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	fw := &folderWatch{w: w, dir: dir, done: make(chan struct{}), subs: map[*subscription]struct{}{sub: {}}}
	p.watches[dir] = fw
	go fw.loop(p.debounce)
	return fw, nil
}

// unwatch removes sub; the last subscription closes the watcher and waits
// for its loop to return.
func (p *Provider) unwatch(dir string, fw *folderWatch, sub *subscription) {
	p.wmu.Lock()
	fw.mu.Lock()
	delete(fw.subs, sub)
	last := len(fw.subs) == 0
	fw.mu.Unlock()
	if last {
		delete(p.watches, dir)
	}
	p.wmu.Unlock()
	if last {
		fw.w.Close()
		<-fw.done
	}
}

// loop turns the folder's events into calls, coalescing bursts: each
// relevant event marks its subscriptions pending and restarts the quiet
// period; when it ends, every pending subscription is called once.
func (fw *folderWatch) loop(debounce time.Duration) {
	defer close(fw.done)
	pending := map[*subscription]struct{}{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		for s := range pending {
			delete(pending, s)
			s.fire()
		}
	}
	mark := func(all bool, base string) {
		fw.mu.Lock()
		for s := range fw.subs {
			if all || s.relevant(base) {
				pending[s] = struct{}{}
			}
		}
		fw.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		if debounce <= 0 {
			flush()
			return
		}
		timer.Reset(debounce)
	}
	for {
		select {
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == fw.dir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
				// The folder itself went away: the kernel dropped the
				// watch, and a folder made again in its place is not
				// watched. Push is lost for good; polling takes over.
				fw.lost.Store(true)
				mark(true, "")
				continue
			}
			// Every operation counts, a chmod too: a file refused for its
			// mode becomes readable by one.
			mark(false, filepath.Base(ev.Name))
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				fw.lost.Store(true)
			}
			mark(true, "")
		case <-timer.C:
			flush()
		}
	}
}

func statErrorOp(op, ref string, err error) error {
	e := statError(ref, err)
	if ce, ok := e.(*credential.Error); ok {
		ce.Op = op
	}
	return e
}

// PushHealthy implements credential.PushHealth: it reports whether the
// provider watches at least one folder and every watcher is alive (no
// watched folder was removed or moved away, no watcher failed). While it
// does, rotate polls at its slow safety interval; once it does not, at the
// normal one. A lost watcher stays lost until every credential watching
// that folder stopped.
func (p *Provider) PushHealthy() bool {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if len(p.watches) == 0 {
		return false
	}
	for _, fw := range p.watches {
		if fw.lost.Load() {
			return false
		}
	}
	return true
}
