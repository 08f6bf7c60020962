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
