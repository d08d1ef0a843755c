package fatbin

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// entry builds an entry header of 64 bytes for arch with payload p.
func entry(arch uint32, p []byte) []byte {
	h := make([]byte, 64)
	binary.LittleEndian.PutUint16(h[0:], 2) // kind: cubin
	binary.LittleEndian.PutUint32(h[4:], 64)
	binary.LittleEndian.PutUint64(h[8:], uint64(len(p)))
	binary.LittleEndian.PutUint32(h[archOffset:], arch)
	return append(h, p...)
}

func container(entries ...[]byte) []byte {
	body := bytes.Join(entries, nil)
	h := make([]byte, containerHeader)
	binary.LittleEndian.PutUint32(h[0:], containerMagic)
	binary.LittleEndian.PutUint16(h[4:], 1)
	binary.LittleEndian.PutUint16(h[6:], containerHeader)
	binary.LittleEndian.PutUint64(h[8:], uint64(len(body)))
	return append(h, body...)
}

func TestPrune(t *testing.T) {
	a80, a90, b90, b120 := bytes.Repeat([]byte{8}, 24), bytes.Repeat([]byte{9}, 40), bytes.Repeat([]byte{7}, 8), bytes.Repeat([]byte{12}, 16)
	sec := bytes.Join([][]byte{
		container(entry(80, a80), entry(90, a90)),
		make([]byte, 16), // padding between containers
		container(entry(90, b90), entry(120, b120)),
	}, nil)
	want := bytes.Clone(sec)
	st, err := Prune(sec, 90)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Containers: 2, Entries: 4, Kept: 2, KeptBytes: 48, Zeroed: 2, ZeroBytes: 40}) {
		t.Fatalf("stats %+v", st)
	}
	// Exactly the payloads of sm_80 and sm_120 are zeroed.
	clear(want[16+64 : 16+64+24])
	end := len(want)
	clear(want[end-16:])
	if !bytes.Equal(sec, want) {
		t.Fatal("pruned section differs from the expected bytes")
	}
}

func TestPruneRefuses(t *testing.T) {
	good := container(entry(80, []byte{1, 2, 3, 4}), entry(90, []byte{5, 6, 7, 8}))
	for name, c := range map[string]struct {
		sec  []byte
		keep uint32
		msg  string
	}{
		"bad magic":      {append(bytes.Clone(good), 1, 2, 3, 4, 5, 6, 7, 8), 90, "no container magic"},
		"truncated":      {good[:len(good)-2], 90, "run past the section"},
		"no kept arch":   {good, 86, "no entry for architecture 86"},
		"entry past end": {container(entry(90, nil)[:40]), 90, "run past its container"},
		"short entry":    {container(make([]byte, 10)), 90, "bytes left"},
	} {
		before := bytes.Clone(c.sec)
		if _, err := Prune(c.sec, c.keep); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.msg)
		}
		if !bytes.Equal(before, c.sec) {
			t.Errorf("%s: the section was changed", name)
		}
	}
}
