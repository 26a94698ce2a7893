package qstore

// #include <stdint.h>
// #include <stdlib.h>
// #include <qstore/qstore.h>
//
// /* A qs_source whose user_data is a runtime/cgo.Handle (an integer, never a Go
//  * pointer) of the Go reader; the reads and the release run in Go (source.go). */
// extern int qsgoReadAt(uintptr_t handle, uint64_t offset, void* buffer, size_t n);
// extern void qsgoRelease(uintptr_t handle);
// static int qsgo_read_at(void* user, uint64_t offset, void* buffer, size_t n) {
//     return qsgoReadAt((uintptr_t)user, offset, buffer, n);
// }
// static void qsgo_release(void* user) { qsgoRelease((uintptr_t)user); }
// static qs_status qsgo_open_source(uintptr_t handle, uint64_t size, const char* name,
//                                   const qs_open_options* options, qs_file** out, qs_error* err) {
//     qs_source s = {sizeof s, name, size, (void*)handle, qsgo_read_at, qsgo_release};
//     return qs_open_source_e(&s, options, out, err);
// }
import "C"

import (
	"io"
	"runtime/cgo"
	"unsafe"
)

// OpenReaderAt opens the size bytes that r reads as a .qs file: an object store client,
// an archive member, an *os.File or anything else with ReadAt. The library calls
// r.ReadAt from several threads at once (io.ReaderAt allows it), only for the bytes an
// operation needs (docs/API.md, opening from a read-at callback). The File keeps r until
// Close (also closing when the open fails); name names the file in error messages. A
// read error, a short read or a panic in ReadAt fails that call with StatusIO.
// ViewLow is not available on such a File.
func OpenReaderAt(r io.ReaderAt, size int64, name string, options *OpenOptions) (*File, error) {
	if r == nil || size < 0 {
		return nil, newError(StatusInvalidArgument, "qstore: OpenReaderAt needs a reader and a size >= 0")
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	opts := options.toC()
	// The handle keeps r reachable; the library releases it exactly once (qsgoRelease):
	// at qs_close, or before qs_open_source_e returns an error.
	h := cgo.NewHandle(&readerSource{r: r})
	var raw *C.qs_file
	err := call(func(e *C.qs_error) C.qs_status {
		return C.qsgo_open_source(C.uintptr_t(h), C.uint64_t(size), cname, &opts, &raw, e)
	})
	if err != nil {
		return nil, err
	}
	return newFile(raw, nil), nil
}
