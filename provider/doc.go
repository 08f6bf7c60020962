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
// are accepted. The sub-packages are the backends: env, file, aws;
// providertest is the conformance suite they pass.
package provider
