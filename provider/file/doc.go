// Package file is the credkit backend for secrets in files: a plain file, a
// JSON file, a dotenv file, or a Kubernetes-mounted secret folder.
//
// # Refs
//
//	/run/secrets/openai                  the whole file, less one trailing newline ("\n" or "\r\n")
//	/etc/app/keys.json#openai            a field of a JSON object
//	/srv/app/.env#OPENAI_API_KEY         a variable of a .env file (see [ParseDotenv])
//	/var/run/secrets/llm#api-key         the file api-key in a Kubernetes secret folder
//
// The format is detected (see [Auto]): a folder is a Kubernetes secret
// folder, a ".json" file is JSON, a ".env" file (or ".env.production") is
// dotenv, any other file is plain, except that a "#field" on it reads it as
// JSON. [WithFormat] fixes the format instead. A relative ref needs
// [WithRoot], which also confines every ref to that folder: a ref that
// resolves outside it, through ".." or a symbolic link, is refused with
// [credential.ErrPermission]. In a Kubernetes folder the key files are
// symbolic links into "..data/"; they may point anywhere inside their folder,
// never out of it.
//
// # Safety
//
// Only a regular file is read: a FIFO, a device, a socket or a folder at
// the path (or at the end of its links) is refused with
// [credential.ErrInvalid] before it is opened, the open itself never
// blocks (O_NONBLOCK), and the opened file is checked again, so a FIFO
// swapped in at the last moment cannot hang a fetch. Every call honours its
// context.
//
// A file that others may read or write, or its group may write, is refused
// with [credential.ErrInvalid] unless the provider was made
// [WithInsecureMode] (URL setting allow_insecure_mode=true). A file its
// group may read (0640, 0440) is refused unless the provider was made
// [WithGroupReadable] (URL setting allow_group_readable=true): a Kubernetes
// secret volume with defaultMode: 0440 and an fsGroup is the normal way to
// share a mount with a sidecar. The error names the mode, the Go option and
// the URL setting. It
// is ErrInvalid rather than ErrPermission on purpose: ErrPermission means
// this process is not allowed to read the secret, which someone grants; a
// world-readable secret is a misconfiguration of the secret itself, which
// someone must fix (chmod 600, or defaultMode: 0400 on the Kubernetes
// volume), and no retry or grant makes it right. A file over the size limit
// ([WithMaxSize], 64 KiB by default), an empty value, invalid UTF-8 and a
// value holding a NUL, CR or LF (after one trailing newline is trimmed) are
// ErrInvalid too. Errors name the file and the problem, never the content.
//
// # Versions and change
//
// The version ID is [credential.ContentID] of the file's whole content — a
// keyed hash under the fingerprint key, never a plain hash that would let a
// guess be confirmed offline — (so a change to any field of a JSON or dotenv file is a new
// version of each of its fields), and Created is the file's modification
// time.
//
// [Provider.CurrentVersion] is the cheap change check of
// [credential.VersionChecker]: a stat. The provider remembers, per file, the
// stat of its last read (size, modification time, mode, and the device,
// inode and change time the kernel moves on every write, rename and chmod,
// so a same-size rewrite that puts the modification time back, or a chmod
// 644, is seen) and the content ID
// it hashed; while the stat is unchanged that ID is returned without
// reading, otherwise the file is read and hashed again. So the ID it returns
// is always the one Fetch would return now, as the contract requires, and a
// poll of an unchanged file costs one stat.
//
// [Provider.NotifyChange] implements [credential.Notifier] with fsnotify: it
// watches the folder, not the file, so it sees editors that rename on save,
// delete-then-create, and Kubernetes' "..data" symlink swap. Refs in one
// folder share one watcher; bursts are coalesced ([WithDebounce]).
// rotate.Watch uses both. [Provider.PushHealthy] reports whether every
// watcher is alive: while it is, rotate polls at its slow safety interval
// (15 minutes by default); once a watched folder is removed or moved away
// (the kernel drops the watch), it polls at the normal interval again.
//
// # Reads during a swap
//
// A file is read once, through its resolved path, so a value never mixes
// two versions. When kubelet swaps "..data" and removes the old folder
// between the resolution and the open, the read is retried after a short
// pause (1 to 20 ms, about 40 ms in all); if that keeps happening, Fetch and
// CurrentVersion return [credential.ErrUnavailable], a transient error,
// never a partial value nor ErrNotFound. ErrNotFound means the ref's own
// entry (the key's link in the folder, or the file) does not exist.
//
// A root given to [WithRoot] may not exist yet: refs under it are
// ErrNotFound until it appears, and work from then on.
package file
