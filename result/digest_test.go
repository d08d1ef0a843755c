package result

import "testing"

// The digests are cache keys and compare's test of two forget sets, so
// their bytes are pinned here. The expected values were computed apart
// from this code, with Python's hashlib over struct.pack("<q", v) of each
// value; the committed fixtures' forget_digest is the last labels case.
func TestDigestsKeepTheirBytes(t *testing.T) {
	fixtureLabels := make([]int, 40)
	for i := range fixtureLabels {
		fixtureLabels[i] = i * 7 % 10
	}
	for _, c := range []struct {
		name, got, want string
	}{
		{"ids", IDsDigest([]int{3, 1, 4, 1, 59265}), "ids-sha256:2e06493c789bc588755968c86a329ce5e82c12a3c041d8b47db07a177877c9d0"},
		{"negative ids", IDsDigest([]int{0, 7, 4, 1, -1}), "ids-sha256:4da2163d6e4c481ee44798ba5a4a01d20800cd17f4b0984d833ffdb09a6aac75"},
		{"no ids", IDsDigest(nil), "ids-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"labels", LabelsDigest([]int{3, 1, 4, 1, 59265}), "labels-sha256:2e06493c789bc588755968c86a329ce5e82c12a3c041d8b47db07a177877c9d0"},
		{"fixture labels", LabelsDigest(fixtureLabels), "labels-sha256:5c19b393849dee167f99651159a7cf19ed2a14e8b0ae9d4f41844668679cdfe1"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}
	r := readFixture(t, "full.json")
	if got := LabelsDigest(fixtureLabels); r.Data == nil || r.Data.ForgetDigest != got {
		t.Errorf("full.json's forget digest is not LabelsDigest of its labels (%s)", got)
	}
}
