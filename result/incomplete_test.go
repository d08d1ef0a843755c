package result

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A result with an incomplete method reads back as written; one whose
// incomplete method contradicts itself or the scored methods is refused
// naming the field.
func TestIncompleteChecked(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtures, "minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode("minimal.json", good)
	if err != nil {
		t.Fatal(err)
	}
	ok := Incomplete{Name: "torch-ft", Method: "exec", N: 4, Completed: 3,
		Failures: []MemberFailure{{Member: 2, Seed: 9, Command: "python3 ft.py", Error: "exit status 1", Stderr: "boom"}}}
	r.Incomplete = []Incomplete{ok}
	var b bytes.Buffer
	if err := r.Encode(&b); err != nil {
		t.Fatal(err)
	}
	back, err := Decode("r.json", b.Bytes())
	if err != nil || len(back.Incomplete) != 1 || back.Incomplete[0].Failures[0].Stderr != "boom" || back.Incomplete[0].String() != "incomplete: 3/4 members" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	bad := func(f func(*Incomplete)) Incomplete {
		c := ok
		c.Failures = append([]MemberFailure(nil), ok.Failures...)
		f(&c)
		return c
	}
	cases := []struct {
		c    Incomplete
		want string
	}{
		{bad(func(c *Incomplete) { c.Name = r.Methods[0].Name }), "is listed twice"},
		{bad(func(c *Incomplete) { c.Completed = 4 }), "want 0 <= completed < n"},
		{bad(func(c *Incomplete) { c.Completed = 2 }), "1 failures, but 2 of n = 4 members are missing"},
		{bad(func(c *Incomplete) { c.Failures[0].Member = 4 }), `failures[0]: field "member" is 4`},
	}
	for _, c := range cases {
		r.Incomplete = []Incomplete{c.c}
		b.Reset()
		if err := r.Encode(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := Decode("r.json", b.Bytes()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.c, err, c.want)
		}
	}
}
