package fatbin

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
)

// The layout, little-endian, as NVIDIA's fatbinary tools write it (the
// format is undocumented; cuobjdump reads the same fields). The section is
// a run of containers, each a 16-byte header (u32 magic, u16 version, u16
// header size, u64 payload size) followed by its entries; each entry is a
// header (u16 kind, u16, u32 header size, u64 payload size, ..., u32
// architecture at offset 28) followed by its payload: a cubin (SASS for one
// architecture, often compressed) or PTX. Containers may be followed by
// zero padding up to the next one.
const (
	containerMagic  = 0xBA55ED50
	containerHeader = 16
	entryMinHeader  = 32
	archOffset      = 28
)

// Stats count what Prune saw and did.
type Stats struct {
	Containers int
	Entries    int
	Kept       int   // entries of the kept architecture
	KeptBytes  int64 // their payload bytes
	Zeroed     int   // entries whose payload was zeroed
	ZeroBytes  int64 // payload bytes zeroed
}

// Prune zeroes, in place, the payload of every entry of the .nv_fatbin
// section contents sec whose architecture is not keep (90 for sm_90).
// It refuses a section it cannot walk to its end, naming the offset, and
// then leaves sec unchanged.
func Prune(sec []byte, keep uint32) (Stats, error) {
	var zero [][2]int64 // payload ranges, applied only once the walk succeeded
	var st Stats
	le := binary.LittleEndian
	off := int64(0)
	n := int64(len(sec))
	for off < n {
		// Zero padding between containers, in steps of 8 bytes.
		if n-off >= 4 && le.Uint32(sec[off:]) == 0 {
			off += 8
			continue
		}
		if n-off < containerHeader || le.Uint32(sec[off:]) != containerMagic {
			return Stats{}, fmt.Errorf("fatbin: no container magic 0x%08X at offset %d", containerMagic, off)
		}
		hsize := int64(le.Uint16(sec[off+6:]))
		size := int64(le.Uint64(sec[off+8:]))
		start, end := off+hsize, off+hsize+size
		if hsize < containerHeader || size < 0 || end > n || end < start {
			return Stats{}, fmt.Errorf("fatbin: container at offset %d: header %d and payload %d bytes run past the section's %d", off, hsize, size, n)
		}
		st.Containers++
		for e := start; e < end; {
			if end-e < entryMinHeader {
				return Stats{}, fmt.Errorf("fatbin: entry at offset %d: %d bytes left, want a header of %d", e, end-e, entryMinHeader)
			}
			eh := int64(le.Uint32(sec[e+4:]))
			es := int64(le.Uint64(sec[e+8:]))
			if eh < entryMinHeader || es < 0 || e+eh+es > end || e+eh+es < e {
				return Stats{}, fmt.Errorf("fatbin: entry at offset %d: header %d and payload %d bytes run past its container's end at %d", e, eh, es, end)
			}
			st.Entries++
			if le.Uint32(sec[e+archOffset:]) == keep {
				st.Kept++
				st.KeptBytes += es
			} else {
				st.Zeroed++
				st.ZeroBytes += es
				zero = append(zero, [2]int64{e + eh, e + eh + es})
			}
			e += eh + es
		}
		off = end
	}
	if st.Kept == 0 {
		return Stats{}, fmt.Errorf("fatbin: no entry for architecture %d among %d: pruning would leave no code", keep, st.Entries)
	}
	for _, r := range zero {
		clear(sec[r[0]:r[1]])
	}
	return st, nil
}

// PruneFile writes to out a copy of the ELF shared library in whose
// .nv_fatbin section every architecture but keep is zeroed. Nothing is
// written when the section cannot be walked.
func PruneFile(in, out string, keep uint32) (Stats, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return Stats{}, fmt.Errorf("reading %s: %w", in, err)
	}
	f, err := elf.Open(in)
	if err != nil {
		return Stats{}, fmt.Errorf("reading %s: %w", in, err)
	}
	sec := f.Section(".nv_fatbin")
	f.Close()
	if sec == nil {
		return Stats{}, fmt.Errorf("%s: no .nv_fatbin section", in)
	}
	if sec.Type == elf.SHT_NOBITS || sec.Offset+sec.Size > uint64(len(data)) {
		return Stats{}, fmt.Errorf("%s: .nv_fatbin section (offset %d, %d bytes) is not in the file", in, sec.Offset, sec.Size)
	}
	st, err := Prune(data[sec.Offset:sec.Offset+sec.Size], keep)
	if err != nil {
		return Stats{}, fmt.Errorf("%s: %w", in, err)
	}
	if err := os.WriteFile(out, data, 0o755); err != nil {
		return Stats{}, fmt.Errorf("writing %s: %w", out, err)
	}
	return st, nil
}
