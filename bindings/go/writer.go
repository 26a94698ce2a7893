package qstore

// #include <stdlib.h>
// #include <qstore/qstore.h>
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// WriterOptions are the options of CreateWriter (qs_writer_options, those of qstore pack).
type WriterOptions struct {
	// LowSchemes: the low precisions, highest first, as qstore pack's --low:
	// "int8-row" (a pair), "int8-row,q4_0" (a chain). "" = "int8-row".
	LowSchemes string
	// LowRaw: low codes stored raw and 64-byte aligned.
	LowRaw bool
	// Exclude: fnmatch(3) patterns of names stored unquantized.
	Exclude []string
	// ZstdLevel: -7..22.
	ZstdLevel int
	// NumThreads: 0 = one per online CPU.
	NumThreads int
	// StrictGivenLow: a quantizable tensor without given low codes while others have
	// them is an error.
	StrictGivenLow bool
}

// DefaultWriterOptions are the library's defaults.
func DefaultWriterOptions() WriterOptions {
	d := C.qs_writer_options_default()
	return WriterOptions{LowRaw: d.low_raw != 0, ZstdLevel: int(d.zstd_level), NumThreads: int(d.num_threads),
		StrictGivenLow: d.strict_given_low != 0}
}

// GivenLow is a low precision made elsewhere for one tensor, in the layout LoadLevel
// returns for Scheme (qs_given_low).
type GivenLow struct {
	Scheme     Scheme
	GroupSize  int
	Codes      []byte
	Scales     []byte
	ZeroPoints []byte
}

// Writer writes a .qs file tensor by tensor. The file appears at its path only when
// Finish succeeds; Close of an unfinished writer aborts it and leaves nothing behind.
type Writer struct {
	mu  sync.Mutex
	raw *C.qs_writer
}

// cAlloc is C memory freed together.
type cAlloc []unsafe.Pointer

func (a *cAlloc) str(s string) *C.char {
	p := C.CString(s)
	*a = append(*a, unsafe.Pointer(p))
	return p
}

// bytes copies b into C memory (cgo forbids C structs holding Go pointers).
func (a *cAlloc) bytes(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	p := C.CBytes(b)
	*a = append(*a, p)
	return p
}

func (a *cAlloc) free() {
	for _, p := range *a {
		C.free(p)
	}
}

// CreateWriter starts writing path (checked at once); nil options are the defaults.
func CreateWriter(path string, options *WriterOptions) (*Writer, error) {
	var mem cAlloc
	defer mem.free()
	o := C.qs_writer_options_default()
	if options != nil {
		if options.LowSchemes != "" {
			o.low_schemes = mem.str(options.LowSchemes)
		}
		if options.LowRaw {
			o.low_raw = 1
		}
		if len(options.Exclude) > 0 {
			arr := C.malloc(C.size_t(len(options.Exclude)) * C.size_t(unsafe.Sizeof(uintptr(0))))
			mem = append(mem, arr)
			ptrs := unsafe.Slice((**C.char)(arr), len(options.Exclude))
			for i, p := range options.Exclude {
				ptrs[i] = mem.str(p)
			}
			o.exclude = (**C.char)(arr)
			o.exclude_count = C.size_t(len(options.Exclude))
		}
		o.zstd_level = C.int(options.ZstdLevel)
		o.num_threads = C.uint32_t(options.NumThreads)
		if options.StrictGivenLow {
			o.strict_given_low = 1
		}
	}
	cpath := mem.str(path)
	var raw *C.qs_writer
	if err := call(func(e *C.qs_error) C.qs_status { return C.qs_writer_create_e(cpath, &o, &raw, e) }); err != nil {
		return nil, err
	}
	w := &Writer{raw: raw}
	runtime.SetFinalizer(w, (*Writer).Close)
	return w, nil
}

func (w *Writer) use(fn func(raw *C.qs_writer) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw == nil {
		return &Error{Status: StatusInvalidArgument, Message: "qstore: the writer is closed"}
	}
	return fn(w.raw)
}

// SetMetadata adds a string pair to the file's metadata (safetensors' __metadata__).
func (w *Writer) SetMetadata(key, value string) error {
	var mem cAlloc
	defer mem.free()
	k, v := mem.str(key), mem.str(value)
	return w.use(func(raw *C.qs_writer) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_writer_set_metadata_e(raw, k, v, e) })
	})
}

// AddTensor adds one tensor from its high-precision bytes (row-major, host order),
// quantized with the writer's schemes when it qualifies; data is copied before it returns.
func (w *Writer) AddTensor(name string, dtype Dtype, shape []uint64, data []byte) error {
	return w.AddTensorWithLow(name, dtype, shape, data, nil)
}

// AddTensorWithLow adds one tensor with its low precision given (nil: none given).
func (w *Writer) AddTensorWithLow(name string, dtype Dtype, shape []uint64, data []byte, low *GivenLow) error {
	var mem cAlloc
	defer mem.free()
	cname := mem.str(name)
	var given *C.qs_given_low
	if low != nil {
		given = (*C.qs_given_low)(C.calloc(1, C.size_t(unsafe.Sizeof(C.qs_given_low{}))))
		mem = append(mem, unsafe.Pointer(given))
		given.struct_size = C.size_t(unsafe.Sizeof(*given))
		given.scheme = C.qs_low_scheme(low.Scheme)
		given.group_size = C.uint32_t(low.GroupSize)
		given.codes, given.codes_size = mem.bytes(low.Codes), C.size_t(len(low.Codes))
		given.scales, given.scales_size = mem.bytes(low.Scales), C.size_t(len(low.Scales))
		given.zero_points, given.zero_points_size = mem.bytes(low.ZeroPoints), C.size_t(len(low.ZeroPoints))
	}
	var shapePtr *C.uint64_t
	if len(shape) > 0 {
		shapePtr = (*C.uint64_t)(unsafe.Pointer(&shape[0]))
	}
	return w.use(func(raw *C.qs_writer) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_writer_add_tensor_e(raw, cname, C.qs_dtype(dtype), C.uint32_t(len(shape)), shapePtr,
				bufPtr(data), C.size_t(len(data)), given, e)
		})
	})
}

// Finish writes what remains and moves the file into place atomically. The writer is
// then closed.
func (w *Writer) Finish() error {
	err := w.use(func(raw *C.qs_writer) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_writer_finish_e(raw, e) })
	})
	if err == nil {
		w.Close()
	}
	return err
}

// Close frees the writer; an unfinished writer is aborted (nothing is left behind).
// Closing twice is harmless.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw != nil {
		C.qs_writer_free(w.raw)
		w.raw = nil
	}
	runtime.SetFinalizer(w, nil)
	return nil
}
