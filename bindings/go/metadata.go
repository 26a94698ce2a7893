package qstore

// #include <stdlib.h>
// #include <qstore/qstore.h>
import "C"

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// MetadataEntry is one key/value pair of the file's metadata (safetensors'
// __metadata__ strings, or a GGUF file's typed values). Value is a string, a []string,
// or a slice of the numbers' type ([]uint8 ... []float64, []bool); single numbers are
// slices of one element with IsArray false.
type MetadataEntry struct {
	Key     string
	Value   any
	IsArray bool
}

// Metadata is every entry, in the input's order.
func (f *File) Metadata() ([]MetadataEntry, error) {
	n := 0
	f.use(func(raw *C.qs_file) error { n = int(C.qs_metadata_count(raw)); return nil })
	out := make([]MetadataEntry, 0, n)
	for i := 0; i < n; i++ {
		e, err := f.metadataEntry(i)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// MetadataValue is the value of key; ok is false when there is no such key.
func (f *File) MetadataValue(key string) (value any, ok bool, err error) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	var index C.size_t
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status { return C.qs_find_metadata_e(raw, ckey, &index, e) })
	})
	if e, isErr := err.(*Error); isErr && e.Status == StatusNotFound {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	entry, err := f.metadataEntry(int(index))
	if err != nil {
		return nil, false, err
	}
	return entry.Value, true, nil
}

func (f *File) metadataEntry(index int) (MetadataEntry, error) {
	var out MetadataEntry
	err := f.use(func(raw *C.qs_file) error {
		var m C.qs_metadata_entry
		m.struct_size = C.size_t(unsafe.Sizeof(m))
		err := call(func(e *C.qs_error) C.qs_status { return C.qs_metadata_get_e(raw, C.size_t(index), &m, e) })
		if err != nil {
			return err
		}
		out = MetadataEntry{Key: C.GoString(m.key), IsArray: m.is_array != 0}
		out.Value, err = metadataValue(raw, index, &m)
		return err
	})
	return out, err
}

func metadataValue(raw *C.qs_file, index int, m *C.qs_metadata_entry) (any, error) {
	n := int(m.count)
	if m._type == C.QS_VALUE_STRING {
		if m.is_array == 0 {
			return C.GoStringN(m.string, C.int(m.string_bytes)), nil
		}
		strs := make([]string, n)
		for k := range strs {
			var p *C.char
			var size C.uint64_t
			err := call(func(e *C.qs_error) C.qs_status {
				return C.qs_metadata_string_at_e(raw, C.size_t(index), C.uint64_t(k), &p, &size, e)
			})
			if err != nil {
				return nil, err
			}
			strs[k] = C.GoStringN(p, C.int(size))
		}
		return strs, nil
	}
	sizes := map[C.qs_value_type]int{C.QS_VALUE_U8: 1, C.QS_VALUE_I8: 1, C.QS_VALUE_BOOL: 1, C.QS_VALUE_U16: 2,
		C.QS_VALUE_I16: 2, C.QS_VALUE_U32: 4, C.QS_VALUE_I32: 4, C.QS_VALUE_F32: 4, C.QS_VALUE_U64: 8,
		C.QS_VALUE_I64: 8, C.QS_VALUE_F64: 8}
	size, known := sizes[m._type]
	if !known {
		return nil, newError(StatusUnsupported, "qstore: metadata value type %d", int(m._type))
	}
	b := C.GoBytes(m.values, C.int(n*size))
	return numbers(m._type, b, n), nil
}

// numbers decodes n packed values of type t (host order: little-endian hosts only).
func numbers(t C.qs_value_type, b []byte, n int) any {
	le := binary.LittleEndian
	switch t {
	case C.QS_VALUE_U8:
		return b
	case C.QS_VALUE_I8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(b[i])
		}
		return v
	case C.QS_VALUE_BOOL:
		v := make([]bool, n)
		for i := range v {
			v[i] = b[i] != 0
		}
		return v
	case C.QS_VALUE_U16, C.QS_VALUE_I16:
		u := make([]uint16, n)
		for i := range u {
			u[i] = le.Uint16(b[2*i:])
		}
		if t == C.QS_VALUE_U16 {
			return u
		}
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(u[i])
		}
		return v
	case C.QS_VALUE_U32, C.QS_VALUE_I32, C.QS_VALUE_F32:
		u := make([]uint32, n)
		for i := range u {
			u[i] = le.Uint32(b[4*i:])
		}
		switch t {
		case C.QS_VALUE_U32:
			return u
		case C.QS_VALUE_I32:
			v := make([]int32, n)
			for i := range v {
				v[i] = int32(u[i])
			}
			return v
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(u[i])
		}
		return v
	}
	u := make([]uint64, n)
	for i := range u {
		u[i] = le.Uint64(b[8*i:])
	}
	switch t {
	case C.QS_VALUE_U64:
		return u
	case C.QS_VALUE_I64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(u[i])
		}
		return v
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(u[i])
	}
	return v
}
