package providertest_test

import (
	"fmt"

	"github.com/credkit/credkit/provider/providertest"
)

// A backend's test checks its own outputs for leaks the way the suite does:
// Leak reports where in the secret a leaked run starts, never the run.
func ExampleLeak() {
	secret := "ckt_QzXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
	fmt.Println(providertest.Leak("credential openai: fetch prod/openai: not found", secret))
	fmt.Println(providertest.Leak("bad value: QzXvKw...", secret))
	// Output:
	// -1
	// 4
}

// A backend's conformance test is one call with its harness:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, &harness{...})
//	}
func ExampleRun() {}

// A backend's opener test checks the one settings rule on a table of many
// URLs, through a URLMux and called directly:
//
//	func TestOpenerRefuses(t *testing.T) {
//		for name, open := range providertest.Openers("gcp-sm", gcp.NewOpener()) {
//			t.Run(name, func(t *testing.T) {
//				providertest.CheckRefused(t, open, providertest.RefusedURLs("gcp-sm://projects/p/secrets/s", "endpoint"))
//			})
//		}
//	}
func ExampleRefusedURLs() {
	cases := providertest.RefusedURLs("env://OPENAI_API_KEY", "")
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.Why]++
	}
	fmt.Println(len(cases), kinds["user info"], kinds["unknown setting"], kinds["repeated setting"])
	// Output:
	// 108 30 60 18
}
