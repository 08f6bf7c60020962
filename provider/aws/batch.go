package aws

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/credkit/credkit/credential"
)

var _ credential.BatchDescriber = (*Provider)(nil)

// listEntries lists, with ListSecrets, the secrets under the name prefixes
// that cover refs (a filter holds at most 10 prefixes; a page up to 100
// secrets). It returns the refs it could parse and the entries by name and
// by ARN. When the IAM policy denies ListSecrets, it logs it once and
// returns no entries from then on, so callers fall back to per-secret
// calls.
func (p *Provider) listEntries(ctx context.Context, refs []string) (map[string]ref, map[string]types.SecretListEntry, error) {
	parsed := map[string]ref{}
	entries := map[string]types.SecretListEntry{}
	if p.listDenied.Load() || len(refs) == 0 {
		return parsed, entries, nil
	}
	var names []string
	for _, s := range refs {
		r, err := parseRef(s)
		if err != nil {
			continue
		}
		parsed[s] = r
		names = append(names, r.name())
	}
	prefixes := listPrefixes(names)
	for len(prefixes) > 0 {
		n := min(10, len(prefixes))
		chunk := prefixes[:n]
		prefixes = prefixes[n:]
		pg := secretsmanager.NewListSecretsPaginator(p.c, &secretsmanager.ListSecretsInput{
			Filters:    []types.Filter{{Key: types.FilterNameStringTypeName, Values: chunk}},
			MaxResults: aws.Int32(100),
		})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				if p.denied(err, "ListSecrets", &p.listDenied) {
					return parsed, map[string]types.SecretListEntry{}, nil
				}
				return nil, nil, mapErr("check", "ListSecrets", err)
			}
			for _, e := range page.SecretList {
				entries[aws.ToString(e.Name)] = e
				entries[aws.ToString(e.ARN)] = e
			}
		}
	}
	return parsed, entries, nil
}

// DescribeBatch describes many refs with ListSecrets, whose entries carry
// the tags and rotation facts DescribeSecret returns: ⌈M/100⌉ calls for
// the M secrets under the refs' name prefixes, instead of one call per
// ref. A ref whose secret was not listed (or when ListSecrets is denied)
// is left out; the caller describes it alone.
func (p *Provider) DescribeBatch(ctx context.Context, refs []string) (map[string]credential.Description, error) {
	parsed, entries, err := p.listEntries(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := map[string]credential.Description{}
	for s, r := range parsed {
		e, ok := entries[r.id]
		if !ok {
			e, ok = entries[r.name()]
		}
		if !ok || e.DeletedDate != nil {
			continue
		}
		out[s] = p.description(e.RotationEnabled, e.LastRotatedDate, e.NextRotationDate, e.Tags)
	}
	return out, nil
}

// description builds what Describe and DescribeBatch return: the tags as
// metadata (see TagNames; every tag lands in Metadata.Tags) and the
// rotation facts.
func (p *Provider) description(enabled *bool, last, next *time.Time, tagList []types.Tag) credential.Description {
	d := credential.Description{
		RotationEnabled: aws.ToBool(enabled),
		LastRotated:     aws.ToTime(last),
		NextRotation:    aws.ToTime(next),
	}
	tags := map[string]string{}
	for _, t := range tagList {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if len(tags) > 0 {
		d.Metadata.Tags = tags
	}
	d.Metadata.Owner = tags[p.tags.Owner]
	d.Metadata.Purpose = tags[p.tags.Purpose]
	d.Metadata.Environment = tags[p.tags.Environment]
	d.Metadata.System = tags[p.tags.System]
	return d
}
