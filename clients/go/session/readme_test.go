package session_test

// DOC-SNIPPET: the README's Go program runs as pasted. The docs harness (tests/docs) runs sh,
// python and ts blocks only, so the README marks this one not runnable, naming this test; fold
// it into the harness if that learns Go. The block is the ```go fence after the line that names
// TestReadmeSnippet in ../README.md; the expected output is the ```text fence after it.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fenceAfter returns the body of the first ```lang fence after marker in text.
func fenceAfter(t *testing.T, text, marker, lang string) string {
	t.Helper()
	start := strings.Index(text, marker)
	if start < 0 {
		t.Fatalf("no %q in the README", marker)
	}
	open := "```" + lang + "\n"
	from := strings.Index(text[start:], open)
	if from < 0 {
		t.Fatalf("no %s block after %q", open, marker)
	}
	body := text[start+from+len(open):]
	end := strings.Index(body, "\n```")
	if end < 0 {
		t.Fatalf("the %s block after %q is not closed", lang, marker)
	}
	return body[:end+1]
}

func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	program := fenceAfter(t, string(readme), "(TestReadmeSnippet)", "go")
	want := fenceAfter(t, string(readme), "(TestReadmeSnippet)", "text")
	main := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(main, []byte(program), 0o600); err != nil {
		t.Fatal(err)
	}
	// The README runs it with `./dev go run`, i.e. this test's own go command and GOPATH.
	run := exec.Command("go", "run", main, shared.Address)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("go run the README's program: %v\n%s", err, out)
	}
	if string(out) != want {
		t.Fatalf("the README's program printed\n%s\nthe README says\n%s", out, want)
	}
}
