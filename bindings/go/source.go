package qstore

// #include <stdint.h>
// #include <stddef.h>
import "C"

import (
	"io"
	"math"
	"runtime/cgo"
	"unsafe"
)

// readerSource is what a cgo.Handle of OpenReaderAt holds.
type readerSource struct {
	r io.ReaderAt
}

// qsgoReadAt fills buffer[0:n] with the bytes at offset; 0 on success. Called from the
// library's threads. A panic of the reader is recovered: it must not unwind into C.
//
//export qsgoReadAt
func qsgoReadAt(handle C.uintptr_t, offset C.uint64_t, buffer unsafe.Pointer, n C.size_t) (status C.int) {
	defer func() {
		if recover() != nil {
			status = 1
		}
	}()
	if uint64(offset) > math.MaxInt64 || uint64(n) > math.MaxInt {
		return 1
	}
	s := cgo.Handle(handle).Value().(*readerSource)
	buf := unsafe.Slice((*byte)(buffer), int(n))
	got, err := s.r.ReadAt(buf, int64(offset))
	if got == len(buf) && (err == nil || err == io.EOF) {
		return 0
	}
	return 1
}

// qsgoRelease lets the reader of a closed (or never opened) File go.
//
//export qsgoRelease
func qsgoRelease(handle C.uintptr_t) {
	cgo.Handle(handle).Delete()
}
