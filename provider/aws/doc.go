// Package aws is the credkit backend for AWS Secrets Manager, on the AWS
// SDK for Go v2.
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
// message. The SDK's retryer is kept; credkit does not retry on top of it.
package aws
