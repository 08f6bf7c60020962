package provider

import (
	"context"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/env"
	"github.com/credkit/credkit/provider/file"
)

// shared keeps one provider per configuration key, so that every URL with
// the same settings is served by the same instance (a rotate.Set batches
// the credentials of one provider, and a file provider shares its watchers).
type shared[P any] struct {
	mu sync.Mutex
	m  map[string]P
}

func (s *shared[P]) get(key string, make func() P) P {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.m[key]; ok {
		return p
	}
	if s.m == nil {
		s.m = map[string]P{}
	}
	p := make()
	s.m[key] = p
	return p
}

// openError is a refusal of u: printed with every setting value blanked
// (a refused value may be a token pasted in the wrong place, and OpenError
// alone prints a harmless setting's value).
func openError(u *url.URL, reason string) error {
	return OpenError(WithoutValues(u), credential.ErrInvalid, reason)
}

// withoutName is u without host, path or fragment, for the error of a URL
// whose name is malformed: it may be a value pasted where a name belongs.
func withoutName(u *url.URL) *url.URL {
	nu := *u
	nu.Host, nu.Path, nu.RawPath, nu.Fragment, nu.RawFragment = "", "", "", "", ""
	return &nu
}

// EnvOpener opens env:// URLs:
//
//	env://OPENAI_API_KEY
//	env://DATABASE#password
//	env://OPENAI_API_KEY?prefix=MYAPP_
//
// The host is the variable name (a path is refused: names have no "/"). The
// only setting is prefix ([env.WithPrefix]). URLs with the same settings
// share one [env.Provider].
func EnvOpener() Opener {
	var cache shared[*env.Provider]
	return OpenerFunc(func(_ context.Context, u *url.URL) (credential.Provider, string, error) {
		name := u.Host + u.Path
		if name == "" || strings.Contains(name, "/") {
			return nil, "", openError(withoutName(u), "env:// takes a variable name (env://NAME)")
		}
		set, err := Settings(u, "prefix")
		if err != nil {
			return nil, "", err
		}
		prefix := set["prefix"]
		p := cache.get(prefix, func() *env.Provider { return env.New(env.WithPrefix(prefix)) })
		return p, withField(name, u.Fragment), nil
	})
}

// FileOpener opens file:// URLs:
//
//	file:///run/secrets/openai
//	file:///etc/app/keys.json#openai
//	file:///var/run/secrets/llm#api-key
//	file:///srv/app/secrets.txt#OPENAI_API_KEY?format=dotenv
//	file:///run/secrets/openai?allow_group_readable=true
//	file:///run/secrets/openai?allow_insecure_mode=true
//	file:///srv/app/keys/openai?root=/srv/app/keys
//
// The path must be absolute: "file://relative/path" is refused, because by
// URL rules "relative" would be a host name, and a path relative to the
// working directory would make a config file mean different secrets
// depending on where the program was started. Settings: format (auto,
// plain, json, dotenv; [file.WithFormat]), allow_group_readable (true or
// false; [file.WithGroupReadable]: a file its group may read, as a
// Kubernetes volume with defaultMode: 0440 has), allow_insecure_mode (true
// or false; [file.WithInsecureMode]: any mode) and root (an absolute folder
// the path must stay in; [file.WithRoot]). Any other setting, or one given
// twice, is refused ([Settings]). URLs with the same settings share one
// [file.Provider], and so its per-folder watchers.
func FileOpener() Opener {
	var cache shared[*file.Provider]
	formats := map[string]file.Format{"": file.Auto, "auto": file.Auto, "plain": file.Plain, "json": file.JSON, "dotenv": file.Dotenv}
	return OpenerFunc(func(_ context.Context, u *url.URL) (credential.Provider, string, error) {
		if u.Host != "" && u.Host != "localhost" {
			return nil, "", openError(withoutName(u), "file:// takes an absolute path (file:///path); a relative path would depend on the working directory")
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, "", openError(u, "file:// needs an absolute path")
		}
		set, err := Settings(u, "format", "allow_insecure_mode", "allow_group_readable", "root")
		if err != nil {
			return nil, "", err
		}
		format, ok := formats[strings.ToLower(set["format"])]
		if !ok {
			return nil, "", openError(u, "format must be auto, plain, json or dotenv")
		}
		insecure, group := false, false
		if v, ok := set["allow_insecure_mode"]; ok {
			if insecure, err = strconv.ParseBool(v); err != nil {
				return nil, "", openError(u, "allow_insecure_mode must be true or false")
			}
		}
		if v, ok := set["allow_group_readable"]; ok {
			if group, err = strconv.ParseBool(v); err != nil {
				return nil, "", openError(u, "allow_group_readable must be true or false")
			}
		}
		root := set["root"]
		if root != "" && !filepath.IsAbs(root) {
			return nil, "", openError(u, "root must be an absolute folder")
		}
		keys := []string{"format=" + strconv.Itoa(int(format)), "insecure=" + strconv.FormatBool(insecure), "group=" + strconv.FormatBool(group), "root=" + root}
		sort.Strings(keys)
		p := cache.get(strings.Join(keys, "&"), func() *file.Provider {
			opts := []file.Option{file.WithFormat(format)}
			if insecure {
				opts = append(opts, file.WithInsecureMode())
			}
			if group {
				opts = append(opts, file.WithGroupReadable())
			}
			if root != "" {
				opts = append(opts, file.WithRoot(root))
			}
			return file.New(opts...)
		})
		return p, withField(filepath.FromSlash(u.Path), u.Fragment), nil
	})
}
