package credential_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/credkit/credkit/credential"
)

// InjectAllowed is the rule every injecting RoundTripper follows on a
// redirect: the key goes to the same host or a subdomain, never elsewhere,
// never from https to plain http.
func ExampleInjectAllowed() {
	first, _ := http.NewRequest("GET", "https://api.example.com/v1/models", nil)
	follow := func(to string) *http.Request {
		r, _ := http.NewRequest("GET", to, nil)
		r.Response = &http.Response{Request: first} // as http.Client sets it
		return r
	}
	fmt.Println(credential.InjectAllowed(first))
	fmt.Println(credential.InjectAllowed(follow("https://eu.api.example.com/v1/models")))
	fmt.Println(credential.InjectAllowed(follow("https://evil.example/collect")))
	fmt.Println(credential.InjectAllowed(follow("http://api.example.com/v1/models")))
	// Output:
	// true
	// true
	// false
	// false
}

// SetFingerprintKey is called once, first thing in main, before anything
// computes a fingerprint; afterwards it refuses to change the key.
func ExampleSetFingerprintKey() {
	// In main: read the operator's key (os.Getenv, os.ReadFile) and set it
	// before opening any credential.
	//
	//	err := credential.SetFingerprintKey(credential.NewSecret(os.Getenv("CREDKIT_FINGERPRINT_KEY")))
	//
	// Once a fingerprint has been computed, the key is fixed:
	_ = credential.NewSecret("sk-FAKE-example").Fingerprint()
	err := credential.SetFingerprintKey(credential.NewSecret("FAKE-operator-key-0000000000000"))
	fmt.Println(errors.Is(err, credential.ErrInvalid))
	// Output:
	// true
}

// SafeRef prints a URL without its user info, whatever the password holds,
// and without the values of settings that are not known to be harmless.
func ExampleSafeRef() {
	fmt.Println(credential.SafeRef("aws-sm://prod/openai#api_key?region=eu-west-1&token=FAKEtoken"))
	fmt.Println(credential.SafeRef("postgres://app:FAKE/p@ss@db:5432/app"))
	// Output:
	// aws-sm://prod/openai#api_key?region=eu-west-1&token=_
	// postgres://***
}
