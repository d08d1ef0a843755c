package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"unlearnbench/internal/usererr"
)

// The IDX format (LeCun's MNIST page) is a 4-byte magic 0x00 0x00 TYPE NDIMS,
// NDIMS big-endian uint32 sizes, then the data in C order. Written by hand:
// no Go module in the project's allowed set reads it, and it is a few lines.

const (
	idxTypeUbyte = 0x08
	// idxMaxDims bounds the rank a reader accepts; MNIST uses 1 and 3.
	idxMaxDims = 4
	// idxMaxBytes bounds the data an IDX file may claim (16 GiB), so that a
	// corrupt header cannot overflow the size computation.
	idxMaxBytes = 1 << 34
)

// idxChunk is the most a reader allocates before the data has arrived: a
// header claiming gigabytes costs nothing until the bytes are there. A
// variable so that a test can make it small.
var idxChunk int64 = 64 << 20

var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short",
	0x0C: "int", 0x0D: "float", 0x0E: "double",
}

// IDX is one decoded IDX array of unsigned bytes.
type IDX struct {
	Dims []int
	Data []uint8
}

// ReadIDXFile reads an IDX file, gzipped or raw (told apart by content, not
// by name).
func ReadIDXFile(path string) (*IDX, error) {
	f, _, err := openData(path, "an IDX file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadIDX(bufio.NewReaderSize(f, 1<<20), path)
}

// openData opens a data file and returns its size; what says what the file
// should be, for the error when path is a directory.
func openData(path, what string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, usererr.Wrap(err) // "open PATH: no such file or directory"
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, usererr.Errorf("reading %s: is a directory, want %s", path, what)
	}
	return f, st.Size(), nil
}

// ReadIDX reads an IDX stream, gunzipping it first when it starts with the
// gzip magic; name is used in errors. It reads r to the end: bytes after the
// data are an error, and so is a gzip checksum that does not match.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	head, _ := br.Peek(2)
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, formatErr(name, 0, "gzip header", "%v", err)
		}
		defer zr.Close()
		idx, err := decodeIDX(zr, name+" (gunzipped)")
		if err != nil {
			return nil, err
		}
		return idx, nil
	}
	return decodeIDX(br, name)
}

func decodeIDX(r io.Reader, name string) (*IDX, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, readErr(name, int64(n), "magic", "4 bytes", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, formatErr(name, 0, "magic", "got % x, want 00 00 TYPE NDIMS: not an IDX file", magic)
	}
	if magic[2] != idxTypeUbyte {
		tn, ok := idxTypeNames[magic[2]]
		if !ok {
			tn = "unknown"
		}
		return nil, formatErr(name, 2, "type", "0x%02x (%s) is not supported; want 0x08 (unsigned byte)", magic[2], tn)
	}
	nd := int(magic[3])
	if nd < 1 || nd > idxMaxDims {
		return nil, formatErr(name, 3, "dimensions", "%d; want 1 to %d", nd, idxMaxDims)
	}
	var dimBuf [4 * idxMaxDims]byte
	if n, err := io.ReadFull(r, dimBuf[:4*nd]); err != nil {
		return nil, readErr(name, 4+int64(n), "sizes", fmt.Sprintf("%d bytes", 4*nd), err)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(dimBuf[4*i:]))
		dims[i] = int(d)
		if d == 0 {
			total = 0
			continue
		}
		if total > 0 && total > idxMaxBytes/d {
			return nil, formatErr(name, int64(4+4*i), fmt.Sprintf("size %d", i), "sizes %v exceed %d bytes", dims[:i+1], int64(idxMaxBytes))
		}
		total *= d
	}
	hdr := int64(4 + 4*nd)
	data := make([]byte, min(total, idxChunk))
	filled := 0
	for {
		n, err := io.ReadFull(r, data[filled:])
		filled += n
		if err != nil {
			return nil, readErr(name, hdr+int64(filled), "data", fmt.Sprintf("%d bytes for sizes %v", total, dims), err)
		}
		if int64(filled) == total {
			break
		}
		grown := min(total, 2*int64(len(data)))
		data = append(data, make([]byte, grown-int64(len(data)))...)
	}
	var extra [1]byte
	n, err := io.ReadFull(r, extra[:])
	switch {
	case n > 0:
		return nil, formatErr(name, hdr+total, "end", "unexpected bytes after the %d data bytes that sizes %v call for", total, dims)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, formatErr(name, hdr+total, "end", "%v", err)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// readErr reports a short read: a truncated file, or a decompression error.
func readErr(name string, off int64, field, want string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(name, off, field, "file ends early (truncated?); want %s", want)
	}
	var fe *os.PathError
	if errors.As(err, &fe) {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return formatErr(name, off, field, "%v", err)
}
