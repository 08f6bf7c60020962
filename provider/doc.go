// Package provider opens credential URLs: it maps a URL's scheme to the
// backend that serves it, so that a config file can list credentials as
// URLs and code never names a backend:
//
//	env://OPENAI_API_KEY
//	env://DATABASE#password
//	file:///run/secrets/openai
//	file:///var/run/secrets/llm#api-key
//	aws-sm://prod/openai#api_key?region=eu-west-1
//
// # Registration
//
// [NewURLMux] knows env:// and file://. Other backends are registered
// explicitly by the program that wants them — there is no init-time
// registration, so importing credkit never drags in a cloud SDK you do not
// use, and nothing changes behind your back:
//
//	mux := provider.NewURLMux()
//	mux.Register("aws-sm", aws.NewOpener())
//
// # URL grammar
//
// A URL is scheme://ref, where the ref is the backend's own (a variable
// name, a path, a secret name). "#field" selects a field; "?key=value"
// passes settings to the opener (region, stage, endpoint...). The field may
// come before or after the query — credkit's docs write it first
// ("aws-sm://name#field?region=x"), URL parsers expect it last — and both
// are accepted. Every opener follows one rule, [Settings]: a setting it
// does not know, or one given twice, is [credential.ErrInvalid] naming the
// setting and never its value, so a typo is an error rather than a silently
// different configuration. Errors print URLs through [credential.SafeRef]
// (openers report through [OpenError]): user info, whatever it holds, and
// the values of settings not known to be harmless are dropped.
//
// # Built-in schemes
//
// [EnvOpener] serves env://NAME (setting: prefix) and [FileOpener] serves
// file:///absolute/path (settings: format, allow_group_readable,
// allow_insecure_mode, root).
// "file://relative/path" is refused: by URL rules "relative" is a host, and
// a path relative to the working directory would make one config file name
// different secrets depending on where the program starts. Each opener
// returns one shared provider per configuration, so a rotate.Set can batch
// the credentials of one backend and file watchers are shared.
//
// The sub-packages are the backends: env, file, aws;
// providertest is the conformance suite they pass.
package provider
