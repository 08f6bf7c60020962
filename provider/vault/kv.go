package vault

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
)

// kvState classifies a KV v2 version's metadata: a deleted version is
// ErrNotFound, a destroyed one ErrRevoked; never an empty value.
func kvState(op, safe string, md map[string]any) error {
	if md == nil {
		return nil
	}
	if d, _ := md["destroyed"].(bool); d {
		return &credential.Error{Op: op, Ref: safe, Kind: credential.ErrRevoked, Reason: "the KV version was destroyed"}
	}
	if dt, _ := md["deletion_time"].(string); dt != "" {
		return &credential.Error{Op: op, Ref: safe, Kind: credential.ErrNotFound, Reason: "the KV version was deleted"}
	}
	return nil
}

// readKV2 reads MOUNT/data/SUB (?version=N).
func (p *Provider) readKV2(ctx context.Context, r ref, mount, sub string) (credential.Version, map[string]any, error) {
	var q url.Values
	if r.version > 0 {
		q = url.Values{"version": {strconv.Itoa(r.version)}}
	}
	sec, status, err := p.request(ctx, "fetch", r.safe, http.MethodGet, mount+"/data/"+sub, r.ns, q, nil)
	var outer map[string]any
	if sec != nil {
		outer = sec.Data
	}
	md, _ := outer["metadata"].(map[string]any)
	if status == http.StatusNotFound || (err == nil && outer["data"] == nil) {
		if e := kvState("fetch", r.safe, md); e != nil {
			return credential.Version{}, nil, e
		}
		if err == nil {
			err = &credential.Error{Op: "fetch", Ref: r.safe, Kind: credential.ErrNotFound, Reason: "no data at this path"}
		}
	}
	if err != nil {
		return credential.Version{}, nil, err
	}
	data, ok := outer["data"].(map[string]any)
	if !ok {
		return credential.Version{}, nil, invalid("fetch", r.safe, "the KV v2 answer has no data object (is the mount KV version 1?)")
	}
	v, err := selectValue("fetch", r.safe, data, r.field)
	if err != nil {
		return credential.Version{}, nil, err
	}
	n := intOf(md["version"])
	if n == 0 {
		return credential.Version{}, nil, invalid("fetch", r.safe, "the KV v2 answer has no version")
	}
	return credential.Version{Secret: credential.NewSecret(v), ID: strconv.Itoa(n), Created: parseTime(md["created_time"])}, md, nil
}

// readKV1 reads MOUNT/SUB of a KV version 1 mount.
func (p *Provider) readKV1(ctx context.Context, r ref, mount, sub string) (credential.Version, error) {
	if r.version > 0 {
		return credential.Version{}, invalid("fetch", r.safe, "KV version 1 has no versions")
	}
	sec, _, err := p.request(ctx, "fetch", r.safe, http.MethodGet, mount+"/"+sub, r.ns, nil, nil)
	if err != nil {
		return credential.Version{}, err
	}
	if sec == nil || sec.Data == nil {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: r.safe, Kind: credential.ErrNotFound, Reason: "no data at this path"}
	}
	v, err := selectValue("fetch", r.safe, sec.Data, r.field)
	if err != nil {
		return credential.Version{}, err
	}
	return credential.Version{Secret: credential.NewSecret(v), ID: credential.ContentID(v)}, nil
}

func (p *Provider) metadataDenied(ns, mount string) bool {
	_, ok := p.denied.Load(ns + "\x00" + mount)
	return ok
}

// readMetadata reads MOUNT/metadata/SUB. denied reports a 403, after which
// the provider reads data instead (logged once per mount).
func (p *Provider) readMetadata(ctx context.Context, op string, r ref, mount, sub string) (md map[string]any, denied bool, err error) {
	sec, status, err := p.request(ctx, op, r.safe, http.MethodGet, mount+"/metadata/"+sub, r.ns, nil, nil)
	if status == http.StatusForbidden {
		p.denied.Store(r.ns+"\x00"+mount, true)
		p.logOnceKey("metadata\x00"+r.ns+"\x00"+mount, func() {
			p.o.logger.Warn("credkit: Vault policy denies reading KV metadata; checking versions by reading the data instead",
				"mount", mount, "namespace", r.ns)
		})
		return nil, true, err
	}
	if err != nil {
		return nil, false, err
	}
	if sec == nil || sec.Data == nil {
		return nil, false, &credential.Error{Op: op, Ref: r.safe, Kind: credential.ErrNotFound, Reason: "no metadata at this path"}
	}
	return sec.Data, false, nil
}

// checkKV2 returns the version Fetch would return, from the metadata.
func (p *Provider) checkKV2(ctx context.Context, r ref, mount, sub string) (string, error) {
	if !p.metadataDenied(r.ns, mount) {
		md, denied, err := p.readMetadata(ctx, "check", r, mount, sub)
		if err == nil {
			n := r.version
			if n == 0 {
				n = intOf(md["current_version"])
			}
			versions, _ := md["versions"].(map[string]any)
			vm, ok := versions[strconv.Itoa(n)].(map[string]any)
			if n == 0 || !ok {
				return "", &credential.Error{Op: "check", Ref: r.safe, Kind: credential.ErrNotFound, Reason: "the KV version does not exist"}
			}
			if err := kvState("check", r.safe, vm); err != nil {
				return "", err
			}
			return strconv.Itoa(n), nil
		}
		if !denied {
			return "", err
		}
	}
	v, _, err := p.readKV2(ctx, r, mount, sub)
	if err != nil {
		if ce := (*credential.Error)(nil); errors.As(err, &ce) && ce.Op == "fetch" {
			cp := *ce
			cp.Op = "check"
			return "", &cp
		}
		return "", err
	}
	return v.ID, nil
}

// describeKV2 maps custom_metadata.
func (p *Provider) describeKV2(ctx context.Context, r ref, mount, sub string) (credential.Description, error) {
	md, _, err := p.readMetadata(ctx, "describe", r, mount, sub)
	if err != nil {
		return credential.Description{}, err
	}
	d := credential.Description{LastRotated: parseTime(md["updated_time"])}
	custom := map[string]string{}
	if cm, ok := md["custom_metadata"].(map[string]any); ok {
		for k, v := range cm {
			if s, ok := v.(string); ok {
				custom[k] = s
			}
		}
	}
	d.Metadata = metadataFrom(custom, p.o.names)
	return d, nil
}

func metadataFrom(custom map[string]string, n MetadataNames) credential.Metadata {
	var m credential.Metadata
	if len(custom) == 0 {
		return m
	}
	m.Tags = custom
	get := func(k string) string {
		if k == "" {
			return ""
		}
		return custom[k]
	}
	m.Owner, m.Purpose, m.Environment, m.System = get(n.Owner), get(n.Purpose), get(n.Environment), get(n.System)
	if s := get(n.Scopes); s != "" {
		for _, sc := range strings.Split(s, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				m.Scopes = append(m.Scopes, sc)
			}
		}
	}
	if s := get(n.RotationPeriod); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			m.RotationPeriod = d
		}
	}
	return m
}
