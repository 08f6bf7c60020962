package file

import (
	"context"
	"errors"
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
	root     string // cleaned and resolved; "" for none
	rootErr  error
	insecure bool
	maxSize  int64
	format   Format
	debounce time.Duration

	mu    sync.Mutex
	stats map[string]statID // resolved path -> last stat and content ID

	wmu     sync.Mutex
	watches map[string]*folderWatch // folder -> its shared watcher
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
// [credential.ErrPermission]. Relative refs are taken relative to dir.
func WithRoot(dir string) Option {
	return func(p *Provider) {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		p.root, p.rootErr = abs, err
	}
}

// WithInsecureMode accepts files that group or others may read. Kubernetes
// mounts secrets with mode 0644 unless the volume sets defaultMode: 0400;
// prefer setting the mode to using this option.
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

// resolve turns ref into the file to read, enforcing the root.
func (p *Provider) resolve(ref string) (target, error) {
	if p.rootErr != nil {
		return target{}, fail(ref, credential.ErrInvalid, "the provider's root folder cannot be resolved", p.rootErr)
	}
	name, fld := field.Split(ref)
	if name == "" || strings.ContainsRune(name, 0) {
		return target{}, fail(ref, credential.ErrInvalid, "not a file path", nil)
	}
	if !filepath.IsAbs(name) {
		if p.root == "" {
			return target{}, fail(ref, credential.ErrInvalid, "a relative path needs a root (WithRoot)", nil)
		}
		name = filepath.Join(p.root, name)
	}
	name = filepath.Clean(name)
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
	if p.root != "" && !within(p.root, resolved) {
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

// read opens the target once and returns its content and stat.
func (p *Provider) read(ref string, t target) ([]byte, os.FileInfo, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return nil, nil, statError(ref, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, statError(ref, err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fail(ref, credential.ErrInvalid, "not a regular file", nil)
	}
	if !p.insecure && info.Mode().Perm()&0o077 != 0 {
		return nil, nil, fail(ref, credential.ErrInvalid, "file is readable by group or others (mode "+strconv.FormatUint(uint64(info.Mode().Perm()), 8)+"); chmod 600 it, or use WithInsecureMode", nil)
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

// swapRetries is how many times a read is retried when the file resolved a
// moment ago is gone: a Kubernetes "..data" swap removes the old timestamped
// folder right after linking the new one.
const swapRetries = 3

// load resolves ref and reads the file through the resolved path, once, so
// a value never mixes two versions. A file that vanishes between resolution
// and open is a swap in progress: resolution is retried, and if it keeps
// happening the error is ErrUnavailable (transient), never ErrNotFound.
func (p *Provider) load(ref string) (target, []byte, os.FileInfo, error) {
	for attempt := 0; ; attempt++ {
		t, err := p.resolve(ref)
		if err != nil {
			if errors.Is(err, credential.ErrNotFound) && attempt < swapRetries {
				continue // a link walked mid-swap; a missing file fails every time
			}
			return target{}, nil, nil, err
		}
		b, info, err := p.read(ref, t)
		if err == nil {
			return t, b, info, nil
		}
		if !errors.Is(err, credential.ErrNotFound) {
			return target{}, nil, nil, err
		}
		if attempt >= swapRetries {
			return target{}, nil, nil, swapError(ref, err)
		}
	}
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
	t, b, info, err := p.load(ref)
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
	if err := field.Check(value, 0); err != nil {
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
		content = strings.TrimSuffix(content, "\n")
		content = strings.TrimSuffix(content, "\r")
		return content, nil
	}
}

func statKey(info os.FileInfo) string {
	return strconv.FormatInt(info.Size(), 10) + "/" + strconv.FormatInt(info.ModTime().UnixNano(), 10) + "/" + inode(info)
}

func (p *Provider) remember(path string, info os.FileInfo, id string) {
	p.mu.Lock()
	p.stats[path] = statID{key: statKey(info), id: id}
	p.mu.Unlock()
}

// CurrentVersion is the cheap change check: a stat of the file. While size,
// modification time and inode are those of the last read, the remembered
// content ID is returned without reading; otherwise the file is read and
// hashed (never returned), so the ID always equals what Fetch would return.
func (p *Provider) CurrentVersion(ctx context.Context, ref string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		t, err := p.resolve(ref)
		if err != nil {
			if errors.Is(err, credential.ErrNotFound) && attempt < swapRetries {
				continue
			}
			return "", err
		}
		info, err := os.Stat(t.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && attempt < swapRetries {
				continue
			}
			return "", swapError(ref, statError(ref, err))
		}
		p.mu.Lock()
		last, ok := p.stats[t.path]
		p.mu.Unlock()
		if ok && last.key == statKey(info) {
			return last.id, nil
		}
		break
	}
	t, b, info, err := p.load(ref)
	if err != nil {
		return "", err
	}
	id := field.ContentID(string(b))
	p.remember(t.path, info, id)
	return id, nil
}
