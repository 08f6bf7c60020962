package fallback_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Regression (issue 16): an option a constructor does not read was
// silently ignored (NewEmbeddings(…, WithMaxAttempts(1)) still made 4
// attempts). Now it does not compile.
func TestMisplacedOptionDoesNotCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to compile with")
	}
	out, err := exec.Command(gobin, "build", "-o", t.TempDir()+"/misplaced", "./testdata/misplaced").CombinedOutput()
	if err == nil {
		t.Fatal("a policy option given to NewEmbeddings compiled")
	}
	if !strings.Contains(string(out), "EmbeddingsOption") {
		t.Fatalf("failed for another reason:\n%s", out)
	}
}
