package manifest

import (
	"strings"
	"testing"
)

// The flag only matters for a single document: a stream of several is always numbered.
func TestSplitNumbering(t *testing.T) {
	tests := []struct {
		in           string
		alwaysNumber bool
		want         string
	}{
		{in: "kind: A\n", want: "f.yaml"},
		{in: "kind: A\n", alwaysNumber: true, want: "f.yaml#1"},
		{in: "# header\n---\nkind: A\n", want: "f.yaml#2"},
	}
	for _, tt := range tests {
		docs, err := Split("f.yaml", []byte(tt.in), tt.alwaysNumber)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 1 || docs[0].Source != tt.want {
			t.Errorf("Split(%q, %v) = %+v, want one document from %s", tt.in, tt.alwaysNumber, docs, tt.want)
		}
	}
}

// A line longer than the demo's old 4 MiB limit still reads; one past maxLine is an error.
func TestSplitLongLines(t *testing.T) {
	long := "kind: A\nnote: " + strings.Repeat("x", 5<<20) + "\n"
	if docs, err := Split("f.yaml", []byte(long), false); err != nil || len(docs) != 1 {
		t.Fatalf("5 MiB line: %d documents, %v", len(docs), err)
	}
	tooLong := "note: " + strings.Repeat("x", maxLine) + "\n"
	if _, err := Split("f.yaml", []byte(tooLong), false); err == nil || !strings.Contains(err.Error(), "reading f.yaml") {
		t.Errorf("line past the limit: error = %v", err)
	}
}
