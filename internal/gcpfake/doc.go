// Package gcpfake is an in-process fake of Google Secret Manager: a real
// gRPC server implementing secretmanagerpb.SecretManagerServiceServer on a
// loopback listener, so the real *secretmanager.Client is tested over its
// wire protocol (see [Server.Client]). Pub/Sub notifications go through the
// official fake, cloud.google.com/go/pubsub/v2/pstest.
//
// It implements CreateSecret, GetSecret, UpdateSecret (labels, annotations,
// version_aliases, topics, rotation, expire_time), DeleteSecret,
// ListSecrets, AddSecretVersion, GetSecretVersion, AccessSecretVersion,
// ListSecretVersions (with the "state:ENABLED" filter, newest first),
// EnableSecretVersion, DisableSecretVersion and DestroySecretVersion, with
// the service's semantics: "latest" is the most recently created version
// whatever its state, and reading a disabled or destroyed version fails with
// FailedPrecondition; aliases name versions; payloads carry a CRC32C
// (Castagnoli). Global secrets are named projects/P/secrets/S, regional ones
// projects/P/locations/L/secrets/S.
//
// Faults (a status code, latency, a number of calls) can be injected per
// method, reads of a secret can be denied, a stored payload can be
// corrupted, and every method's calls are counted. When a secret has
// topics, the version events (SECRET_VERSION_ADD, _ENABLE, _DISABLE,
// _DESTROY) and [Server.Rotate]'s SECRET_ROTATE are published to them in
// the service's format (attributes eventType, secretId, versionId,
// dataFormat=JSON_API_V1; the resource as JSON in the data).
package gcpfake
