// Package aws is the credkit backend for AWS Secrets Manager, and the
// source of Amazon Bedrock short-term API keys, on the AWS SDK for Go v2.
//
// # Refs and URLs
//
// A ref is a secret name or ARN, optionally with a version selector and a
// JSON field: "prod/openai", "prod/openai#api_key",
// "prod/openai?stage=AWSPREVIOUS#api_key", "prod/openai?version=<id>". The
// URL form, for a provider.URLMux with [NewOpener] registered as "aws-sm":
//
//	aws-sm://prod/openai#api_key?region=eu-west-1
//	aws-sm://prod/openai?stage=AWSPENDING&endpoint=http://localhost:4566
//	aws-sm:///arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbCdEf
//
// # Cost
//
// GetSecretValue and DescribeSecret share 10,000 requests a second per
// region; ListSecrets and BatchGetSecretValue allow about 100; every call
// costs $0.05 per 10,000. The provider implements every cheap path credkit
// knows: [Provider.CurrentVersion] (DescribeSecret, the version map and
// never the value), [Provider.CurrentVersions] (one ListSecrets page for up
// to 100 secrets) and [Provider.FetchBatch] (BatchGetSecretValue, 20 per
// call). A rotate.Set polls its AWS credentials together: N unchanged
// secrets cost ⌈N/100⌉ calls a poll, and only the changed ones are fetched.
// rotate.Open starts them the same way: [Provider.DescribeBatch] (the tags
// and rotation facts of ListSecrets) and FetchBatch, about ⌈N/100⌉ +
// ⌈N/20⌉ calls for N secrets instead of 2N.
// Where the IAM policy lacks ListSecrets or BatchGetSecretValue, the
// provider says so once in the log and the Set falls back to per-secret
// calls. The README next to this file has the numbers and IAM policies.
//
// # Rotation
//
// Secrets Manager rotates by staging labels: a new version is put as
// AWSPENDING, tested, then AWSCURRENT moves to it and the old version
// becomes AWSPREVIOUS. A watched credential sees the move at its next
// check, and keeps the old value for its overlap window, as AWSPREVIOUS
// does.
//
// # Errors
//
// ResourceNotFoundException is credential.ErrNotFound. A secret scheduled
// for deletion is credential.ErrRevoked: its owner stopped it (the
// deletion is AWS's disable), so rotate stops serving it at once, on every
// replica the CloudTrail DeleteSecret event reaches (see [Events]) or at
// its next check, and RestoreSecret within the recovery window brings it
// back at the next successful check. AccessDeniedException and KMS or decryption
// failures credential.ErrPermission; throttling, 5xx and network errors
// credential.ErrUnavailable. Errors name the AWS error code, not AWS's
// message, and keep the SDK's error as their cause (errors.As reaches
// smithy.APIError or *net.OpError; the text is credkit's own summary). The
// SDK's retryer is kept; credkit does not retry on top of it.
//
// An aws-sm:// URL takes the settings region, stage, version, endpoint and
// profile; any other, or one given twice, is credential.ErrInvalid naming
// the setting, never its value (provider.Settings). A value holding a NUL,
// CR or LF is credential.ErrInvalid (one trailing newline is trimmed).
//
// # Bedrock short-term API keys
//
// [BedrockKeys] mints Amazon Bedrock short-term API keys from the AWS
// credentials of the default chain (environment, shared files, SSO, web
// identity, ECS or EC2 roles): each key is a SigV4-presigned
// CallWithBearerToken URL, signed locally, base64-encoded and prefixed
// "bedrock-api-key-", as AWS's own token generators build it. It lives up
// to 12 hours, never past the AWS credentials that signed it, and works
// only in its region. Its URL, for a provider.URLMux with
// [NewBedrockOpener] registered as "bedrock-key", names the region:
//
//	bedrock-key://us-east-1
//	bedrock-key://eu-central-1?expires=1h&profile=bedrock
//
// The Version's Expires is the key's expiry, so rotate refreshes it ahead
// (at 80% of its life) and never serves it expired; credential.Transport
// sends it as "Authorization: Bearer", which is how bedrock-runtime and its
// OpenAI-compatible API take API keys. In a rotate.Set's inventory the key
// is short-lived, with its TTL, its issuer (https://bedrock.amazonaws.com)
// and subject (the signing access key ID), and no rotation due date; health
// warns only when its refresh fails or is late, and fails once it expired.
//
// Where a bearer key does not fit — Bedrock operations API keys do not
// cover (agents, data automation, bidirectional streaming) and every other
// AWS API — let the AWS SDK sign each request with SigV4: build the
// bedrockruntime client from the same aws.Config, whose credential cache
// refreshes role credentials ahead of their expiry, and put credkit's
// policies in its HTTP client (config.WithHTTPClient with a
// health/degrade RoundTripper), never a credential.Transport, which would
// overwrite the signed Authorization header. [BedrockKeys] has the code.
package aws
