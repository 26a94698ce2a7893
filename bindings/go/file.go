package qstore

// #include <stdlib.h>
// #include <qstore/qstore.h>
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// OpenOptions are the options of OpenWith (qs_open_options).
type OpenOptions struct {
	// NumThreads: worker threads of the handle; 0 = one per online CPU, 1 = the calling thread.
	NumThreads int
	// VerifyChecksums: verify each part's checksum on every load.
	VerifyChecksums bool
}

// DefaultOpenOptions are the library's defaults.
func DefaultOpenOptions() OpenOptions {
	d := C.qs_open_options_default()
	return OpenOptions{NumThreads: int(d.num_threads), VerifyChecksums: d.verify_checksums != 0}
}

func (o *OpenOptions) toC() C.qs_open_options {
	c := C.qs_open_options_default()
	if o != nil {
		c.num_threads = C.uint32_t(o.NumThreads)
		c.verify_checksums = 0
		if o.VerifyChecksums {
			c.verify_checksums = 1
		}
	}
	return c
}

// File is an open .qs file. Its methods may be called from many goroutines at once;
// after Close they return an error (status StatusInvalidArgument).
type File struct {
	mu  sync.RWMutex // loads share it, Close takes it alone
	raw *C.qs_file
	mem unsafe.Pointer // the C copy of a file opened from memory
}

// Open opens a .qs file with the default options.
func Open(path string) (*File, error) {
	return OpenWith(path, nil)
}

// OpenWith opens a .qs file; nil options are the defaults.
func OpenWith(path string, options *OpenOptions) (*File, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	opts := options.toC()
	var raw *C.qs_file
	if err := call(func(e *C.qs_error) C.qs_status { return C.qs_open_e(cpath, &opts, &raw, e) }); err != nil {
		return nil, err
	}
	return newFile(raw, nil), nil
}

// OpenURL opens a .qs file on a web server by its http:// or https:// URL, read with
// HTTP range requests (qs_open_url_e: docs/API.md, opening over HTTP).
func OpenURL(url string) (*File, error) {
	return OpenURLWith(url, nil)
}

// OpenURLWith opens a .qs file by its URL; nil options are the defaults.
func OpenURLWith(url string, options *OpenOptions) (*File, error) {
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	opts := options.toC()
	var raw *C.qs_file
	if err := call(func(e *C.qs_error) C.qs_status { return C.qs_open_url_e(curl, &opts, &raw, e) }); err != nil {
		return nil, err
	}
	return newFile(raw, nil), nil
}

// OpenMemory opens a .qs file held in memory; the bytes are copied, so data may be
// reused after the call.
func OpenMemory(data []byte, options *OpenOptions) (*File, error) {
	mem := C.malloc(C.size_t(len(data) + 1)) // +1: malloc(0) may return NULL
	if mem == nil {
		return nil, &Error{Status: StatusOutOfMemory, Message: "out of memory"}
	}
	copy(unsafe.Slice((*byte)(mem), len(data)), data)
	opts := options.toC()
	var raw *C.qs_file
	err := call(func(e *C.qs_error) C.qs_status {
		return C.qs_open_memory_e(mem, C.size_t(len(data)), &opts, &raw, e)
	})
	if err != nil {
		C.free(mem)
		return nil, err
	}
	return newFile(raw, mem), nil
}

func newFile(raw *C.qs_file, mem unsafe.Pointer) *File {
	f := &File{raw: raw, mem: mem}
	runtime.SetFinalizer(f, (*File).Close)
	return f
}

// Close closes the file; closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.raw != nil {
		C.qs_close(f.raw)
		f.raw = nil
	}
	if f.mem != nil {
		C.free(f.mem)
		f.mem = nil
	}
	runtime.SetFinalizer(f, nil)
	return nil
}

// use runs fn with the live handle (read-locked), or fails if the file is closed.
func (f *File) use(fn func(raw *C.qs_file) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.raw == nil {
		return &Error{Status: StatusInvalidArgument, Message: "qstore: the file is closed"}
	}
	return fn(f.raw)
}

// Len is the number of tensors (0 once closed).
func (f *File) Len() int {
	n := 0
	f.use(func(raw *C.qs_file) error { n = int(C.qs_tensor_count(raw)); return nil })
	return n
}

// Tensor describes the tensor at index (file order).
func (f *File) Tensor(index int) (TensorInfo, error) {
	var info TensorInfo
	if index < 0 {
		return info, newError(StatusInvalidArgument, "qstore: tensor index %d", index)
	}
	err := f.use(func(raw *C.qs_file) error {
		var c C.qs_tensor_info
		c.struct_size = C.size_t(unsafe.Sizeof(c))
		err := call(func(e *C.qs_error) C.qs_status { return C.qs_tensor_info_get_e(raw, C.size_t(index), &c, e) })
		if err == nil {
			info = tensorInfoFromC(index, &c)
		}
		return err
	})
	return info, err
}

// Tensors describes every tensor, in file order.
func (f *File) Tensors() ([]TensorInfo, error) {
	n := f.Len()
	out := make([]TensorInfo, 0, n)
	for i := 0; i < n; i++ {
		t, err := f.Tensor(i)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Find is the index of the tensor named name (status StatusNotFound if none).
func (f *File) Find(name string) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var index C.size_t
	err := f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_find_tensor_e(raw, cname, &index, e) })
	})
	return int(index), err
}

// LevelInfo describes level `level` (0 = lowest .. NumLevels-1 = high) of tensor index.
func (f *File) LevelInfo(index, level int) (LevelInfo, error) {
	return f.levelInfo(index, level, func(raw *C.qs_file, c *C.qs_level_info, e *C.qs_error) C.qs_status {
		return C.qs_level_info_get_e(raw, C.size_t(index), C.uint32_t(level), c, e)
	})
}

// levelInfo checks the arguments and fills a LevelInfo through `get`, one of the C
// API's level-info functions (the whole tensor, or a range of its rows).
func (f *File) levelInfo(index, level int,
	get func(raw *C.qs_file, c *C.qs_level_info, e *C.qs_error) C.qs_status) (LevelInfo, error) {
	var info LevelInfo
	if index < 0 || level < 0 {
		return info, newError(StatusInvalidArgument, "qstore: tensor %d level %d", index, level)
	}
	err := f.use(func(raw *C.qs_file) error {
		var c C.qs_level_info
		c.struct_size = C.size_t(unsafe.Sizeof(c))
		err := call(func(e *C.qs_error) C.qs_status { return get(raw, &c, e) })
		if err == nil {
			info = levelInfoFromC(level, &c)
		}
		return err
	})
	return info, err
}

// bufPtr is the address of b's first byte, or nil for an empty b.
func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// LoadHigh loads the high precision of tensor index, bit-exact, as its dtype's bytes.
func (f *File) LoadHigh(index int) ([]byte, error) {
	n, err := f.highBytes(index)
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	if err := f.LoadHighInto(index, out); err != nil {
		return nil, err
	}
	return out, nil
}

// highBytes is the size of a tensor's high precision (qs_tensor_info without the Go
// strings and slices of Tensor).
func (f *File) highBytes(index int) (uint64, error) {
	if index < 0 {
		return 0, newError(StatusInvalidArgument, "qstore: tensor index %d", index)
	}
	var n uint64
	err := f.use(func(raw *C.qs_file) error {
		var c C.qs_tensor_info
		c.struct_size = C.size_t(unsafe.Sizeof(c))
		err := call(func(e *C.qs_error) C.qs_status { return C.qs_tensor_info_get_e(raw, C.size_t(index), &c, e) })
		n = uint64(c.high_bytes)
		return err
	})
	return n, err
}

// LoadHighInto loads the high precision into out (at least HighBytes long, else
// StatusBufferTooSmall and nothing is written).
func (f *File) LoadHighInto(index int, out []byte) error {
	if index < 0 {
		return newError(StatusInvalidArgument, "qstore: tensor index %d", index)
	}
	return f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_load_high_e(raw, C.size_t(index), bufPtr(out), C.size_t(len(out)), e)
		})
	})
}

// LoadLevelInto loads a level into caller buffers (sizes from LevelInfo; scales and
// zeroPoints may be nil when the level has none).
func (f *File) LoadLevelInto(index, level int, codes, scales, zeroPoints []byte) error {
	return f.loadLevel(index, level, bufPtr(codes), len(codes), bufPtr(scales), len(scales),
		bufPtr(zeroPoints), len(zeroPoints))
}

func (f *File) loadLevel(index, level int, codes unsafe.Pointer, nc int, scales unsafe.Pointer, ns int,
	zps unsafe.Pointer, nz int) error {
	if index < 0 || level < 0 {
		return newError(StatusInvalidArgument, "qstore: tensor %d level %d", index, level)
	}
	return f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_load_level_e(raw, C.size_t(index), C.uint32_t(level), codes, C.size_t(nc), scales,
				C.size_t(ns), zps, C.size_t(nz), e)
		})
	})
}

// Verify checks every checksum and decodes every tensor in every precision.
func (f *File) Verify() error {
	return f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_verify_e(raw, e) })
	})
}

// IndexPrefixBytes is the number of bytes opening reads (header, directory, metadata, index).
func (f *File) IndexPrefixBytes() (uint64, error) {
	var n C.uint64_t
	err := f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_prefix_bytes_e(raw, C.QS_PREFIX_INDEX, &n, e) })
	})
	return uint64(n), err
}

// LevelCount is the largest number of levels of any tensor (1 when none is quantized).
func (f *File) LevelCount() int {
	n := 0
	f.use(func(raw *C.qs_file) error { n = int(C.qs_level_count(raw)); return nil })
	return n
}

// LevelPrefixBytes is the smallest prefix of the file that serves every level <= level.
func (f *File) LevelPrefixBytes(level int) (uint64, error) {
	var n C.uint64_t
	if level < 0 {
		return 0, newError(StatusInvalidArgument, "qstore: level %d", level)
	}
	err := f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_level_prefix_bytes_e(raw, C.uint32_t(level), &n, e)
		})
	})
	return uint64(n), err
}

// ViewLow gives the low precision of a tensor whose codes are stored raw
// (TensorInfo.LowCodesAreRaw: files packed with --low-raw, and passthrough tensors)
// without copying: codes and scales (nil for passthrough) point into the file's read-only
// mapping (or the copy made by OpenMemory), 64-byte aligned. They are valid only until
// Close, which unmaps them: keep the File open while they are used, and never write
// into them. StatusNotAvailable when the codes are entropy-coded, and for files opened
// by URL or OpenReaderAt.
func (f *File) ViewLow(index int) (codes, scales []byte, err error) {
	if index < 0 {
		return nil, nil, newError(StatusInvalidArgument, "qstore: tensor index %d", index)
	}
	info, err := f.Tensor(index)
	if err != nil {
		return nil, nil, err
	}
	var c, s unsafe.Pointer
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_view_low_e(raw, C.size_t(index), &c, &s, e) })
	})
	if err != nil {
		return nil, nil, err
	}
	codes = unsafe.Slice((*byte)(c), int(info.LowCodeBytes))
	if s != nil {
		scales = unsafe.Slice((*byte)(s), int(info.LowScaleBytes))
	}
	return codes, scales, nil
}
