// Package arrays reads and writes NumPy .npy files and .npz archives as
// typed, validated arrays, with errors that name the file, the member, the
// byte offset and the header field that was wrong.
//
// The format is done by hand rather than through npyio: npyio's reader
// panics on some malformed headers, allocates whatever size a header claims
// and reads only up to two dimensions into typed values, and its writer takes
// N-dimensional shapes only from nested slices. A .npy file is a short
// header plus raw little-endian data, which is less code than those
// workarounds; archive/zip handles the .npz container.
package arrays
