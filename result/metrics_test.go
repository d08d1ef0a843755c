package result

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// Files of schema 1.0 (no "minor" field) to 1.2 still read; a later minor version
// is refused in one line.
func TestDecodeSchemaMinor(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtures, "minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(good, []byte("\"minor\": 3,\n")) {
		t.Fatal("minimal.json is not of minor version 3")
	}
	old := bytes.Replace(good, []byte("  \"minor\": 3,\n"), nil, 1)
	r, err := Decode("old.json", old)
	if err != nil || r.Minor != 0 || r.Version != 1 {
		t.Fatalf("a version 1.0 file: %v, %+v", err, r)
	}
	if r, err := Decode("v11.json", bytes.Replace(good, []byte(`"minor": 3`), []byte(`"minor": 1`), 1)); err != nil || r.Minor != 1 {
		t.Fatalf("a version 1.1 file: %v", err)
	}
	if r, err := Decode("v12.json", bytes.Replace(good, []byte(`"minor": 3`), []byte(`"minor": 2`), 1)); err != nil || r.Minor != 2 || r.Incomplete != nil {
		t.Fatalf("a version 1.2 file: %v", err)
	}
	_, err = Decode("new.json", bytes.Replace(good, []byte(`"minor": 3`), []byte(`"minor": 4`), 1))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), `new.json: field "minor" is 4; this unlearnbench reads version 1.0 to 1.3`) {
		t.Fatalf("minor 4: %v", err)
	}
	if New("attack").Minor != SchemaMinor {
		t.Fatal("New does not write the current minor version")
	}
}

// The KLoM and ToW rows' fields are checked like every other.
func TestDecodeRefusesBadMetrics(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtures, "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"ToW above 1", edit("\"per_model\": [\n            0.937017,", "\"per_model\": [\n            1.5,"), `attack "tow": per_model[0] is 1.5; ToW lies in [0, 1]`},
		{"KLoM of other examples", edit("\"per_example\": [\n            2.312322,", "\"per_example\": [\n            2.312322, 1,"), `attack "klom/forget": 41 per-example values for 40 forget examples`},
		{"negative KLoM", edit(`"median": 1.8582395`, `"median": -1`), `attack "klom/forget": field "median" is -1; a KL divergence is 0 or more`},
		{"undefined out of range", edit(`"median": 1.8582395`, `"undefined": [40], "median": 1.8582395`), "undefined[0] is 40; per_example has 40 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("r.json", c.data)
			if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v; want one line with %q", err, c.want)
			}
		})
	}
	r := readFixture(t, "full.json")
	tow := &r.Methods[0].Attacks[slices.IndexFunc(r.Methods[0].Attacks, func(a AttackResult) bool { return a.Name == "tow" })]
	*tow.CILow = *tow.Value + 0.01
	if err := r.validate(); err == nil || !strings.Contains(err.Error(), "does not hold field \"value\"") {
		t.Errorf("an interval beside its value: %v", err)
	}
	*tow.CILow, *tow.Value = math.NaN(), math.NaN()
	if err := r.Write(filepath.Join(t.TempDir(), "r.json")); err == nil || !strings.Contains(err.Error(), `field "ci_low" is NaN`) {
		t.Errorf("NaN written: %v", err)
	}
}
