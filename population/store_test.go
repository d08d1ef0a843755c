package population

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

func testMember(i int) *Member {
	m := &Member{Index: i, Seed: uint64(1000 + i), Seconds: 1.5, C: 3, ForgetAcc: 0.5, RetainAcc: 0.75, TestAcc: 0.625}
	for k := range 2 * 3 {
		m.Forget = append(m.Forget, float32(i)+float32(k)/8)
	}
	for k := range 4 * 3 {
		m.Retain = append(m.Retain, -float32(k))
	}
	for k := range 3 * 3 {
		m.Test = append(m.Test, float32(k)*0.25)
	}
	return m
}

func testKey(method string) Key {
	var k Key
	k.Add("method", method)
	k.Add("original", "abc")
	return k
}

func TestMemberRoundTripAndNumPyLayout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "member-0007.npz")
	m := testMember(7)
	if err := WriteMember(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMember(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Index != 7 || got.Seed != m.Seed || got.Seconds != m.Seconds || got.C != 3 || got.TestAcc != m.TestAcc ||
		!slices.Equal(got.Forget, m.Forget) || !slices.Equal(got.Retain, m.Retain) || !slices.Equal(got.Test, m.Test) {
		t.Fatalf("read back %+v, wrote %+v", got, m)
	}
	// What numpy.load(p)["forget"] gives: the repository's reader follows
	// NumPy's format, so a population reader opens a member as a user's file.
	v, err := ReadValues(p + ":retain")
	if err != nil {
		t.Fatal(err)
	}
	if v.N != 4 || v.E != 3 {
		t.Fatalf("retain as values: N %d, E %d (a 2-D array reads as [N, E]); want 4, 3", v.N, v.E)
	}
	// The same member gives the same bytes.
	q := filepath.Join(t.TempDir(), "again.npz")
	if err := WriteMember(q, m); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(q)
	if !bytes.Equal(a, b) {
		t.Fatal("writing the same member twice gave different bytes")
	}
}

func TestDamagedMembersAreRecomputedNotScored(t *testing.T) {
	d, err := OpenDir(t.TempDir(), "finetune", testKey("finetune"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := d.Write(testMember(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Member 1 truncated; member 2 rewritten as a valid archive with one
	// logit changed and the old checksum, so that only the checksum tells.
	b, _ := os.ReadFile(d.MemberPath(1))
	if err := os.WriteFile(d.MemberPath(1), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := ReadMember(d.MemberPath(2))
	if err != nil {
		t.Fatal(err)
	}
	oldArr, _ := memberArrays(old)
	var cb bytes.Buffer
	if err := arrays.Encode(&cb, arrays.Tensor[uint8]{Shape: []int{32}, Data: checksum(oldArr)}); err != nil {
		t.Fatal(err)
	}
	old.Forget[0] = 99
	arr, err := memberArrays(old)
	if err != nil {
		t.Fatal(err)
	}
	arr[checksumMember] = cb.Bytes()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, name := range slices.Sorted(maps.Keys(arr)) {
		fw, _ := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		fw.Write(arr[name])
	}
	zw.Close()
	if err := os.WriteFile(d.MemberPath(2), zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMember(d.MemberPath(2)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("changed member read as %v; want ErrDamaged", err)
	}
	var warnings []string
	have, missing, err := d.Scan(context.Background(), 5, func(s string) { warnings = append(warnings, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(have, []int{0, 3}) || !slices.Equal(missing, []int{1, 2, 4}) {
		t.Fatalf("have %v, missing %v; want [0 3] and [1 2 4]", have, missing)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "member-0001.npz") || !strings.Contains(warnings[1], "checksum mismatch") {
		t.Fatalf("warnings %q", warnings)
	}
	if _, err := d.Members(4); err == nil {
		t.Fatal("an incomplete population was read whole")
	}
	if err := d.RefreshManifest(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Manifest.Members, []int{0, 3}) {
		t.Fatalf("manifest lists %v", d.Manifest.Members)
	}
}

func TestOtherLayoutRefused(t *testing.T) {
	root := t.TempDir()
	d, err := OpenDir(root, "noop", testKey("noop"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != filepath.Join(root, testKey("noop").Digest()) || testKey("noop").Digest() == testKey("other").Digest() {
		t.Fatal("directory not named by the key's digest")
	}
	mp := filepath.Join(d.Path, "manifest.json")
	b, _ := os.ReadFile(mp)
	if err := os.WriteFile(mp, bytes.Replace(b, []byte(`"layout": 1`), []byte(`"layout": 0`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDir(root, "noop", testKey("noop"))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("another layout opened: %v", err)
	}
}

func TestShardsOfAnotherConfigRefused(t *testing.T) {
	d, err := OpenDir(t.TempDir(), "noop", testKey("noop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ClaimShards("aaaa", 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := d.ClaimShards("aaaa", 2, 2); err != nil {
		t.Fatalf("the same config's second shard: %v", err)
	}
	if err := d.ClaimShards("bbbb", 2, 2); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "another config") {
		t.Fatalf("another config's shard: %v", err)
	}
	// A task of a Slurm array retried alone counts one shard: the same
	// config, so the message must not say "another config", and it
	// names the count to retry with.
	err = d.ClaimShards("aaaa", 2, 1)
	if err == nil || !usererr.Is(err) || strings.Contains(err.Error(), "another config") ||
		!strings.Contains(err.Error(), "this same config") || !strings.Contains(err.Error(), "--shard K/2") {
		t.Fatalf("the same config in another number of shards: %v", err)
	}
	for i := range 2 {
		if err := d.Write(testMember(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.ClaimShards("bbbb", 4, 2); err != nil {
		t.Fatalf("after the first config's shards completed: %v", err)
	}
}

// Load stacks members 0..n-1 into one population, member-major, with the
// accuracies, seeds and times in member order; an incomplete population is
// an error.
func TestDirLoad(t *testing.T) {
	d, err := OpenDir(t.TempDir(), "finetune", testKey("finetune"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := d.Write(testMember(i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := d.Load(3, "finetune")
	if err != nil {
		t.Fatal(err)
	}
	if p.Forget.N != 3 || p.Forget.E != 2 || p.Forget.C != 3 || p.Retain.E != 4 || p.Test.E != 3 || p.Forget.Name != "finetune forget logits" {
		t.Fatalf("shapes: forget %+v, retain E %d, test E %d", p.Forget, p.Retain.E, p.Test.E)
	}
	if want := slices.Concat(testMember(0).Forget, testMember(1).Forget, testMember(2).Forget); !slices.Equal(p.Forget.Logits.F32, want) {
		t.Fatalf("forget logits %v; want %v", p.Forget.Logits.F32, want)
	}
	if !slices.Equal(p.Seeds, []uint64{1000, 1001, 1002}) || !slices.Equal(p.Seconds, []float64{1.5, 1.5, 1.5}) || !slices.Equal(p.TestAcc, []float64{0.625, 0.625, 0.625}) {
		t.Fatalf("seeds %v, seconds %v, test accuracies %v", p.Seeds, p.Seconds, p.TestAcc)
	}
	if _, err := d.Load(4, "finetune"); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("loading 4 of 3 members: %v", err)
	}
}

// TestScanBoundsAndContext (issue 21 classes 3 and 4): a scan's work is
// the files present, not n (a million members' scan of an empty
// directory opens nothing); n above MaxMembers is refused; a done context
// stops a scan before it opens a member, removing nothing.
func TestScanBoundsAndContext(t *testing.T) {
	d, err := OpenDir(t.TempDir(), "noop", testKey("noop"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := d.Write(testMember(i)); err != nil {
			t.Fatal(err)
		}
	}
	have, missing, err := d.Scan(context.Background(), MaxMembers, nil)
	if err != nil || len(have) != 3 || len(missing) != MaxMembers-3 || missing[0] != 3 {
		t.Fatalf("scan of n = MaxMembers: %d have, %d missing, %v", len(have), len(missing), err)
	}
	for _, n := range []int{MaxMembers + 1, 1 << 40, -1} {
		if _, _, err := d.Check(context.Background(), n); !usererr.Is(err) {
			t.Errorf("n = %d: %v, want a user error", n, err)
		}
	}
	// A damaged member, which a finished scan would remove.
	os.WriteFile(d.MemberPath(1), []byte("not a member"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Scan(ctx, 3, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled scan: %v", err)
	}
	if _, err := os.Stat(d.MemberPath(1)); err != nil {
		t.Fatalf("the canceled scan removed a file: %v", err)
	}
}
