// Package file is the credkit backend for secrets in files: a plain file, a
// JSON file, a dotenv file, or a Kubernetes-mounted secret folder.
//
// # Refs
//
//	/run/secrets/openai                  the whole file, less one trailing newline
//	/etc/app/keys.json#openai            a field of a JSON object
//	/srv/app/.env#OPENAI_API_KEY         a variable of a .env file
//	/var/run/secrets/llm#api-key         the file api-key in a Kubernetes secret folder
//
// The format is detected from the ref (see [Auto]) or fixed with
// [WithFormat]. A relative ref needs [WithRoot], which also confines every
// ref to that folder: a ref that resolves outside it, through ".." or a
// symbolic link, is refused.
//
// # Safety
//
// A file that group or others may read is refused (ErrInvalid) unless the
// provider was made [WithInsecureMode]: a secret readable by every user of
// the machine is a finding, not a configuration. A file over the size limit
// (64 KiB by default), an empty value and invalid UTF-8 are ErrInvalid.
// Errors name the file and the problem, never the content.
//
// # Versions and change
//
// The version ID is a hash of the file's content and Created its
// modification time. The cheap change check ([Provider.CurrentVersion]) is a
// stat; push notification ([Provider.NotifyChange]) watches the folder with
// fsnotify and handles editors that rename on save, delete-then-create, and
// Kubernetes' "..data" symlink swap. rotate.Watch uses both.
package file
