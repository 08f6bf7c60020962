package vault

// EnvAuth exposes envAuth to the tests.
var EnvAuth = envAuth
