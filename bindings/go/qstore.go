// Package qstore reads and writes .qs files through libqstore's C API (cgo, found with
// pkg-config): one file, two or more precisions of a neural network, losslessly.
//
//	f, err := qstore.Open("model.qs")
//	tensors, err := f.Tensors()
//	high, err := f.LoadHigh(t.Index) // bit-exact, t.Dtype
//	low, err := f.LoadLow(t.Index)   // typed codes, scales, zero points
//
// Every call reports its own error (a *Error with the C status and the message of that
// call): errors never pass through the thread-local qs_last_error_message, which a
// goroutine moved to another OS thread between two calls would not see.
package qstore

// #cgo pkg-config: qstore
// #include <stdlib.h>
// #include <qstore/qstore.h>
import "C"

import (
	"fmt"
	"runtime"
	"sync"
)

// Status is the C qs_status of a failed call.
type Status int

const (
	StatusInvalidArgument Status = C.QS_ERR_INVALID_ARGUMENT
	StatusIO              Status = C.QS_ERR_IO
	StatusNotQstore       Status = C.QS_ERR_NOT_QSTORE
	StatusUnsupported     Status = C.QS_ERR_UNSUPPORTED
	StatusCorrupt         Status = C.QS_ERR_CORRUPT
	StatusTruncated       Status = C.QS_ERR_TRUNCATED
	StatusNotFound        Status = C.QS_ERR_NOT_FOUND
	StatusBufferTooSmall  Status = C.QS_ERR_BUFFER_TOO_SMALL
	StatusOutOfMemory     Status = C.QS_ERR_OUT_OF_MEMORY
	StatusNotAvailable    Status = C.QS_ERR_NOT_AVAILABLE
	StatusInternal        Status = C.QS_ERR_INTERNAL
)

// String is the C library's fixed description of the status ("corrupt file", ...).
func (s Status) String() string {
	return C.GoString(C.qs_status_string(C.qs_status(s)))
}

// Error is the error of every failed call: its status and its message, which names
// the file and the tensor.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Message
}

func newError(s Status, format string, args ...any) error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}

// errorObject is a C qs_error; a pool hands each call one of its own (a qs_error may be
// reused by any number of calls, but by one at a time).
type errorObject struct{ raw *C.qs_error }

var errorObjects = sync.Pool{New: func() any {
	o := &errorObject{raw: C.qs_error_new()}
	if o.raw != nil {
		runtime.SetFinalizer(o, func(o *errorObject) { C.qs_error_free(o.raw) })
	}
	return o
}}

// noMemory is returned by the package's own C helpers (many.go) when they cannot
// allocate; no qs_error was written then.
const noMemory = 1000

// call runs f with a qs_error that no other call uses meanwhile and turns the status
// into an error, with the message of this call.
func call(f func(e *C.qs_error) C.qs_status) error {
	o := errorObjects.Get().(*errorObject)
	if o.raw == nil {
		return &Error{Status: StatusOutOfMemory, Message: "out of memory"}
	}
	defer errorObjects.Put(o)
	s := f(o.raw)
	if s == noMemory {
		return &Error{Status: StatusOutOfMemory, Message: "out of memory"}
	}
	if s != C.QS_OK {
		return &Error{Status: Status(s), Message: C.GoString(C.qs_error_message(o.raw))}
	}
	return nil
}

// Version is the version of the linked libqstore, e.g. "1.5.0".
func Version() string {
	return C.GoString(C.qs_version_string())
}
