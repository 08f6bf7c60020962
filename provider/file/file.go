package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Format is how a file's content is read.
type Format int

const (
	// Auto picks the format from the ref: a folder is a Kubernetes secret
	// folder; a ".json" file is JSON; a ".env" file (or one named ".env...")
	// is dotenv; any other file read with a "#field" is JSON, and without
	// one is plain.
	Auto Format = iota
	// Plain: the whole file, less one trailing newline, is the value.
	Plain
	// JSON: "#field" selects a field of the JSON object in the file.
	JSON
	// Dotenv: "#KEY" selects a variable of the .env file.
	Dotenv
)

// Provider reads secrets from files. It is safe for concurrent use.
type Provider struct {
	rootAbs  string // absolute, as given; "" for none
	rootErr  error  // the root could not be made absolute
	insecure bool
	group    bool // group-readable files are accepted
	maxSize  int64
	format   Format
	debounce time.Duration

	mu    sync.Mutex
	stats map[string]statID // resolved path -> last stat and content ID

	wmu     sync.Mutex
	watches map[string]*folderWatch // folder -> its shared watcher

	rootMu   sync.Mutex
	rootReal string // rootAbs with symbolic links resolved, once it exists
}

type statID struct {
	key string
	id  string
}

var (
	_ credential.Provider       = (*Provider)(nil)
	_ credential.VersionChecker = (*Provider)(nil)
	_ credential.Notifier       = (*Provider)(nil)
	_ credential.PushHealth     = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithRoot confines the provider to the folder dir: a ref that resolves
// outside it, through ".." or a symbolic link, is refused with
// [credential.ErrPermission]. Relative refs are taken relative to dir. The
// folder need not exist yet (a volume mounted after the program starts):
// until it does, refs under it are [credential.ErrNotFound]; its symbolic
// links are resolved the first time it is found.
func WithRoot(dir string) Option {
	return func(p *Provider) {
		p.rootAbs, p.rootErr = filepath.Abs(dir)
	}
}

// WithGroupReadable accepts files that their group may read (mode 0640 or
// 0440), as a Kubernetes secret volume with defaultMode: 0440 and an
// fsGroup shares a mount with a sidecar. A file that its group may write,
// or that others may read or write, is still refused. The URL setting is
// allow_group_readable=true.
func WithGroupReadable() Option { return func(p *Provider) { p.group = true } }

// WithInsecureMode accepts files whatever their mode, readable or writable
// by anyone. Kubernetes mounts secrets with mode 0644 unless the volume
// sets defaultMode: 0400 (or 0440 with [WithGroupReadable]); prefer setting
// the mode to using this option. The URL setting is allow_insecure_mode=true.
func WithInsecureMode() Option { return func(p *Provider) { p.insecure = true } }

// WithMaxSize sets the largest file accepted, in bytes (default 64 KiB).
func WithMaxSize(n int64) Option { return func(p *Provider) { p.maxSize = n } }

// WithFormat fixes the format instead of detecting it.
func WithFormat(f Format) Option { return func(p *Provider) { p.format = f } }

// WithDebounce sets the quiet period [Provider.NotifyChange] waits after a
// burst of file events before calling back once (default 20ms; 0 calls back
// on every event).
func WithDebounce(d time.Duration) Option { return func(p *Provider) { p.debounce = d } }

// New returns a Provider with no root, a 64 KiB limit, detected formats,
// files readable by group or others refused, and a 20ms notification
// debounce.
func New(opts ...Option) *Provider {
	p := &Provider{maxSize: 64 << 10, debounce: 20 * time.Millisecond, stats: map[string]statID{}, watches: map[string]*folderWatch{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func fail(ref string, kind error, reason string, cause error) error {
	return &credential.Error{Op: "fetch", Ref: ref, Kind: kind, Reason: reason, Err: cause}
}

// target is a ref resolved to the file to read.
type target struct {
	path   string // the file to open (symlinks resolved)
	field  string
	folder bool // a Kubernetes secret folder: field named the file
	format Format
}

// root returns the root folder with its links resolved ("" for none). It
// is resolved the first time it exists.
func (p *Provider) root(op, ref string) (string, error) {
	if p.rootErr != nil {
		return "", &credential.Error{Op: op, Ref: ref, Kind: credential.ErrInvalid, Reason: "the provider's root folder cannot be made absolute", Err: p.rootErr}
	}
	if p.rootAbs == "" {
		return "", nil
	}
	p.rootMu.Lock()
	defer p.rootMu.Unlock()
	if p.rootReal != "" {
		return p.rootReal, nil
	}
	real, err := filepath.EvalSymlinks(p.rootAbs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &credential.Error{Op: op, Ref: ref, Kind: credential.ErrNotFound, Reason: "the root folder does not exist (yet)"}
		}
		return "", statErrorOp(op, ref, err)
	}
	p.rootReal = real
	return real, nil
}

// entry returns the path the ref names before any link is followed (for a
// folder ref, the key's own entry in the folder), and the root.
func (p *Provider) entry(op, ref string) (name, fld, root string, err error) {
	name, fld = field.Split(ref)
	if name == "" || strings.ContainsRune(name, 0) {
		// Not printed: a ref holding NUL is no path, and may be a value.
		return "", "", "", &credential.Error{Op: op, Kind: credential.ErrInvalid, Reason: "not a file path"}
	}
	if root, err = p.root(op, ref); err != nil {
		return "", "", "", err
	}
	if !filepath.IsAbs(name) {
		if root == "" {
			return "", "", "", &credential.Error{Op: op, Ref: ref, Kind: credential.ErrInvalid, Reason: "a relative path needs a root (WithRoot)"}
		}
		name = filepath.Join(root, name)
	}
	return filepath.Clean(name), fld, root, nil
}

// resolve turns ref into the file to read, enforcing the root. It stats,
// never opens, so a FIFO or a device at the path cannot block it.
func (p *Provider) resolve(ref string) (target, error) {
	name, fld, root, err := p.entry("fetch", ref)
	if err != nil {
		return target{}, err
	}
	info, err := os.Stat(name)
	if err != nil {
		return target{}, statError(ref, err)
	}
	t := target{field: fld, format: p.format}
	if info.IsDir() {
		if fld == "" {
			return target{}, fail(ref, credential.ErrInvalid, "a secret folder needs a #key naming the file", nil)
		}
		if strings.ContainsAny(fld, `/\`) || fld == "." || fld == ".." || strings.HasPrefix(fld, "..") {
			return target{}, fail(ref, credential.ErrInvalid, "a #key in a folder must be a plain file name", nil)
		}
		t.folder = true
		t.field = ""
		name = filepath.Join(name, fld)
	}
	resolved, err := filepath.EvalSymlinks(name)
	if err != nil {
		return target{}, statError(ref, err)
	}
	if root != "" && !within(root, resolved) {
		return target{}, fail(ref, credential.ErrPermission, "path resolves outside the allowed root", nil)
	}
	if t.folder {
		// Kubernetes links each key into ..data/; the link may point anywhere
		// inside the folder, but not out of it.
		dir, err := filepath.EvalSymlinks(filepath.Dir(name))
		if err != nil {
			return target{}, statError(ref, err)
		}
		if !within(dir, resolved) {
			return target{}, fail(ref, credential.ErrPermission, "key resolves outside its secret folder", nil)
		}
	}
	// Refuse anything but a regular file before it is opened: opening a
	// FIFO blocks until a writer comes, a device may never answer.
	linfo, err := os.Lstat(resolved)
	if err != nil {
		return target{}, statError(ref, err)
	}
	if !linfo.Mode().IsRegular() {
		return target{}, notRegular(ref, linfo)
	}
	t.path = resolved
	if t.format == Auto {
		t.format = detect(name, t.folder)
	}
	return t, nil
}

func detect(name string, folder bool) Format {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case folder:
		return Plain
	case strings.HasSuffix(base, ".json"):
		return JSON
	case strings.HasSuffix(base, ".env") || strings.HasPrefix(base, ".env"):
		return Dotenv
	}
	return Auto // decided from content
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func statError(ref string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(ref, credential.ErrNotFound, "no such file", nil)
	case errors.Is(err, fs.ErrPermission):
		return fail(ref, credential.ErrPermission, "the file cannot be read by this process", nil)
	}
	return fail(ref, credential.ErrUnavailable, "the file cannot be read", err)
}

// notRegular is the error for a path that is not a regular file.
func notRegular(ref string, info os.FileInfo) error {
	what := "not a regular file"
	switch m := info.Mode(); {
	case m&fs.ModeNamedPipe != 0:
		what = "not a regular file (a FIFO)"
	case m&fs.ModeDevice != 0:
		what = "not a regular file (a device)"
	case m&fs.ModeSocket != 0:
		what = "not a regular file (a socket)"
	case m.IsDir():
		what = "not a regular file (a folder)"
	}
	return fail(ref, credential.ErrInvalid, what, nil)
}

// checkMode refuses a file whose mode lets others than its owner read or
// change it, unless the provider's options accept it.
func (p *Provider) checkMode(ref string, perm fs.FileMode) error {
	if p.insecure {
		return nil
	}
	mode := "(mode " + fmt.Sprintf("%04o", uint32(perm)) + ")"
	switch {
	case perm&0o007 != 0:
		return fail(ref, credential.ErrInvalid, "file is readable or writable by others "+mode+"; chmod 600 it (defaultMode: 0400 on a Kubernetes volume), or accept it with WithInsecureMode (URL setting allow_insecure_mode=true)", nil)
	case perm&0o030 != 0:
		return fail(ref, credential.ErrInvalid, "file is writable by its group "+mode+"; chmod 600 or 640 it, or accept it with WithInsecureMode (URL setting allow_insecure_mode=true)", nil)
	case perm&0o040 != 0 && !p.group:
		return fail(ref, credential.ErrInvalid, "file is readable by its group "+mode+"; chmod 600 it, or accept a group-readable file with WithGroupReadable (URL setting allow_group_readable=true)", nil)
	}
	return nil
}

// read opens the target once and returns its content and stat. The open
// never blocks (O_NONBLOCK where the platform has it) and the opened file is
// checked again, so a FIFO swapped in after resolve is refused too.
func (p *Provider) read(ref string, t target) ([]byte, os.FileInfo, error) {
	f, err := openFile(t.path)
	if err != nil {
		return nil, nil, statError(ref, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, statError(ref, err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, notRegular(ref, info)
	}
	if err := p.checkMode(ref, info.Mode().Perm()); err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, p.maxSize+1))
	if err != nil {
		return nil, nil, statError(ref, err)
	}
	if int64(len(b)) > p.maxSize {
		return nil, nil, fail(ref, credential.ErrInvalid, "file is over the size limit of "+strconv.FormatInt(p.maxSize, 10)+" bytes", nil)
	}
	return b, info, nil
}

// swapPauses are the pauses between the reads of a file that vanished
// after it was found: a Kubernetes "..data" swap removes the old
// timestamped folder right after linking the new one, and a reader that
// resolved the old link finds nothing. A short pause lets the swap finish.
var swapPauses = []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gone reports whether the ref's own entry (the path before any link is
// followed) does not exist: the secret is missing, not being swapped.
func (p *Provider) gone(ref string) bool {
	name, fld, _, err := p.entry("fetch", ref)
	if err != nil {
		return true
	}
	if info, err := os.Stat(name); err == nil && info.IsDir() && fld != "" {
		name = filepath.Join(name, fld)
	}
	_, err = os.Lstat(name)
	return errors.Is(err, fs.ErrNotExist)
}

// load resolves ref and reads the file through the resolved path, once, so
// a value never mixes two versions. A file that is missing while the ref's
// own entry exists (a link leading into a folder just removed) is a swap in
// progress: it is read again after a short pause, and if that keeps
// happening the error is ErrUnavailable (transient), never ErrNotFound.
func (p *Provider) load(ctx context.Context, ref string) (target, []byte, os.FileInfo, error) {
	var err error
	for _, d := range swapPauses {
		if err := pause(ctx, d); err != nil {
			return target{}, nil, nil, err
		}
		var t target
		t, err = p.resolve(ref)
		if err == nil {
			var b []byte
			var info os.FileInfo
			if b, info, err = p.read(ref, t); err == nil {
				return t, b, info, nil
			}
		}
		if !errors.Is(err, credential.ErrNotFound) || p.gone(ref) {
			return target{}, nil, nil, err
		}
	}
	return target{}, nil, nil, swapError(ref, err)
}

// swapError turns a not-found after a successful resolution into the
// transient error it is.
func swapError(ref string, err error) error {
	if errors.Is(err, credential.ErrNotFound) {
		return fail(ref, credential.ErrUnavailable, "the file was replaced while being read; retry", nil)
	}
	return err
}

// Fetch reads the secret named by ref: a file path (absolute, or relative to
// the root), with "#field" for a JSON or dotenv file, or a folder with
// "#key" for a Kubernetes-mounted secret. The version ID is a hash of the
// file's content; Created is its modification time.
func (p *Provider) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	t, b, info, err := p.load(ctx, ref)
	if err != nil {
		return credential.Version{}, err
	}
	content := string(b)
	id := field.ContentID(content)
	p.remember(t.path, info, id)
	value, err := p.extract(t, content)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", ref)
	}
	value, err = field.Value(value, 0)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", ref)
	}
	return credential.Version{Secret: credential.NewSecret(value), ID: id, Created: info.ModTime()}, nil
}

func (p *Provider) extract(t target, content string) (string, error) {
	if !utf8.ValidString(content) {
		return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "file is not valid UTF-8"}
	}
	format := t.format
	if format == Auto {
		format = Plain
		if t.field != "" {
			format = JSON
		}
	}
	switch format {
	case JSON:
		if t.field == "" {
			return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "a JSON file needs a #field"}
		}
		return field.JSON([]byte(content), t.field)
	case Dotenv:
		if t.field == "" {
			return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "a dotenv file needs a #KEY"}
		}
		vars, err := ParseDotenv(content)
		if err != nil {
			return "", err
		}
		v, ok := vars[t.field]
		if !ok {
			return "", &credential.Error{Kind: credential.ErrNotFound, Reason: "key " + strconv.Quote(t.field) + " is missing"}
		}
		return v, nil
	default:
		if t.field != "" {
			return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "a plain file has no fields"}
		}
		// field.Value trims the one trailing newline.
		return content, nil
	}
}

// statKey is what the kernel changes on every write, rename and mode
// change: size, modification time, mode, and where the platform has them,
// the device, inode and change time (ctime, which a write or chmod moves
// even when the modification time is put back).
func statKey(info os.FileInfo) string {
	return strconv.FormatInt(info.Size(), 10) + "/" + strconv.FormatInt(info.ModTime().UnixNano(), 10) + "/" + strconv.FormatUint(uint64(info.Mode()), 8) + "/" + sysKey(info)
}

func (p *Provider) remember(path string, info os.FileInfo, id string) {
	p.mu.Lock()
	p.stats[path] = statID{key: statKey(info), id: id}
	p.mu.Unlock()
}

// CurrentVersion is the cheap change check: a stat of the file. While its
// stat (size, modification time, mode, inode, change time) is that of the
// last read, the remembered content ID is returned without reading;
// otherwise the file is read and hashed (never returned), so the ID always
// equals what Fetch would return, and a file that became unreadable or
// world-readable fails here as Fetch would.
func (p *Provider) CurrentVersion(ctx context.Context, ref string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	t, err := p.resolve(ref)
	if err == nil {
		var info os.FileInfo
		if info, err = os.Stat(t.path); err == nil && info.Mode().IsRegular() {
			p.mu.Lock()
			last, ok := p.stats[t.path]
			p.mu.Unlock()
			if ok && last.key == statKey(info) {
				return last.id, nil
			}
		}
	}
	t, b, info, err := p.load(ctx, ref)
	if err != nil {
		return "", err
	}
	id := field.ContentID(string(b))
	p.remember(t.path, info, id)
	return id, nil
}
