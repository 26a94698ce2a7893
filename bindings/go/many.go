package qstore

// #include <stdlib.h>
// #include <qstore/qstore.h>
//
// /* The batched loads take arrays of output pointers. cgo does not let Go memory hold
//  * pointers passed to C, so Go passes one arena and the offsets in it, and the array of
//  * pointers is made here, in C memory, for the duration of the call. QSGO_NO_MEMORY:
//  * that array could not be allocated (no qs_error was written). */
// #define QSGO_NO_MEMORY 1000
// static void** qsgo_pointers(unsigned char* base, const size_t* offsets, size_t count) {
//     void** p = (void**)malloc((count ? count : 1) * sizeof *p);
//     if (p)
//         for (size_t k = 0; k < count; ++k) p[k] = offsets[k] == (size_t)-1 ? NULL : base + offsets[k];
//     return p;
// }
// static qs_status qsgo_load_high_many(qs_file* f, size_t count, const size_t* indices, unsigned char* base,
//                                      const size_t* offsets, const size_t* sizes, qs_error* err) {
//     void** outs = qsgo_pointers(base, offsets, count);
//     if (!outs) return (qs_status)QSGO_NO_MEMORY;
//     qs_status s = qs_load_high_many_e(f, count, indices, outs, sizes, err);
//     free(outs);
//     return s;
// }
// static qs_status qsgo_load_low_many(qs_file* f, size_t count, const size_t* indices, unsigned char* base,
//                                     const size_t* code_offsets, const size_t* code_sizes,
//                                     const size_t* scale_offsets, const size_t* scale_sizes, qs_error* err) {
//     void** codes = qsgo_pointers(base, code_offsets, count);
//     void** scales = qsgo_pointers(base, scale_offsets, count);
//     qs_status s = codes && scales
//         ? qs_load_low_many_e(f, count, indices, codes, code_sizes, scales, scale_sizes, err)
//         : (qs_status)QSGO_NO_MEMORY;
//     free(codes);
//     free(scales);
//     return s;
// }
// /* What the batched loads size their buffers by, for every tensor in one cgo call:
//  * the high precision's bytes, or level 0's qs_level_info. */
// static qs_status qsgo_high_sizes(qs_file* f, size_t count, const size_t* indices, size_t* sizes, qs_error* err) {
//     for (size_t k = 0; k < count; ++k) {
//         qs_tensor_info info = {sizeof info};
//         qs_status s = qs_tensor_info_get_e(f, indices[k], &info, err);
//         if (s != QS_OK) return s;
//         sizes[k] = (size_t)info.high_bytes;
//     }
//     return QS_OK;
// }
// static qs_status qsgo_level0_infos(qs_file* f, size_t count, const size_t* indices, qs_level_info* infos,
//                                    qs_error* err) {
//     for (size_t k = 0; k < count; ++k) {
//         infos[k].struct_size = sizeof infos[k];
//         qs_status s = qs_level_info_get_e(f, indices[k], 0, &infos[k], err);
//         if (s != QS_OK) return s;
//     }
//     return QS_OK;
// }
import "C"

import "unsafe"

const noBuffer = ^C.size_t(0) // an offset that stands for NULL

// arena lays out byte ranges 8-byte aligned in one allocation.
type arena struct {
	size uint64
}

func (a *arena) place(n uint64) C.size_t {
	if n == 0 {
		return noBuffer
	}
	off := a.size
	a.size += (n + 7) &^ 7
	return C.size_t(off)
}

func (a *arena) alloc() []byte {
	words := make([]uint64, a.size/8+1) // uint64: 8-byte aligned
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
}

func cIndices(indices []int) ([]C.size_t, error) {
	out := make([]C.size_t, len(indices)+1) // +1: never empty
	for k, i := range indices {
		if i < 0 {
			return nil, newError(StatusInvalidArgument, "qstore: tensor index %d", i)
		}
		out[k] = C.size_t(i)
	}
	return out, nil
}

// LoadHighMany loads the high precision of several tensors in one call, decoded in
// parallel on the handle's threads (also across tensors: faster than one LoadHigh per
// tensor for models of many small tensors). The slices share one allocation.
func (f *File) LoadHighMany(indices []int) ([][]byte, error) {
	idx, err := cIndices(indices)
	if err != nil {
		return nil, err
	}
	var a arena
	offsets := make([]C.size_t, len(indices)+1)
	sizes := make([]C.size_t, len(indices)+1)
	var mem []byte
	err = f.use(func(raw *C.qs_file) error {
		err := call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_high_sizes(raw, C.size_t(len(indices)), &idx[0], &sizes[0], e)
		})
		if err != nil {
			return err
		}
		for k := range indices {
			offsets[k] = a.place(uint64(sizes[k]))
		}
		mem = a.alloc()
		return call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_load_high_many(raw, C.size_t(len(indices)), &idx[0], (*C.uchar)(unsafe.Pointer(&mem[0])),
				&offsets[0], &sizes[0], e)
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(indices))
	for k := range indices {
		out[k] = sub(mem, offsets[k], uint64(sizes[k]))
	}
	return out, nil
}

func sub(mem []byte, off C.size_t, n uint64) []byte {
	if off == noBuffer {
		return []byte{}
	}
	return mem[off : uint64(off)+n : uint64(off)+n]
}

// LoadLowMany loads the lowest precision (level 0) of several tensors in one call,
// typed as by LoadLow. Zero points (int4-asym-group, uint8-asym-tensor), which the
// batched C call does not return, are loaded tensor by tensor.
func (f *File) LoadLowMany(indices []int) ([]*Level, error) {
	idx, err := cIndices(indices)
	if err != nil {
		return nil, err
	}
	var a arena
	infos := make([]LevelInfo, len(indices))
	co, cs := make([]C.size_t, len(indices)+1), make([]C.size_t, len(indices)+1)
	so, ss := make([]C.size_t, len(indices)+1), make([]C.size_t, len(indices)+1)
	var mem []byte
	err = f.use(func(raw *C.qs_file) error {
		cInfos := make([]C.qs_level_info, len(indices)+1)
		err := call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_level0_infos(raw, C.size_t(len(indices)), &idx[0], &cInfos[0], e)
		})
		if err != nil {
			return err
		}
		for k := range indices {
			infos[k] = levelInfoFromC(0, &cInfos[k])
			co[k], cs[k] = a.place(infos[k].CodeBytes), C.size_t(infos[k].CodeBytes)
			so[k], ss[k] = a.place(infos[k].ScaleBytes), C.size_t(infos[k].ScaleBytes)
		}
		mem = a.alloc()
		return call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_load_low_many(raw, C.size_t(len(indices)), &idx[0], (*C.uchar)(unsafe.Pointer(&mem[0])),
				&co[0], &cs[0], &so[0], &ss[0], e)
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Level, len(indices))
	for k, i := range indices {
		l, err := typedLevel(infos[k], sub(mem, co[k], infos[k].CodeBytes), sub(mem, so[k], infos[k].ScaleBytes))
		if err != nil {
			return nil, err
		}
		if infos[k].ZeroPointBytes > 0 {
			l.ZeroPoints = make([]byte, infos[k].ZeroPointBytes)
			codes, scales := l.CodeBytes(), l.ScaleBytes()
			if err := f.LoadLevelInto(i, 0, codes, scales, l.ZeroPoints); err != nil {
				return nil, err
			}
		}
		out[k] = l
	}
	return out, nil
}

// typedLevel views a level's code and scale bytes (8-byte aligned) as the typed slices of
// a Level, without copying.
func typedLevel(info LevelInfo, codes, scales []byte) (*Level, error) {
	l := &Level{Info: info, Kind: kindOf(info.Scheme)}
	switch l.Kind {
	case CodesI8:
		l.I8 = view[int8](codes, 1)
	case CodesInt4Packed:
		l.Int4 = view[int32](codes, 4)
	default:
		l.Bytes = codes
	}
	if len(scales) > 0 {
		switch info.ScaleDtype {
		case F16:
			l.ScalesF16 = view[uint16](scales, 2)
		case F32:
			l.ScalesF32 = view[float32](scales, 4)
		default:
			return nil, newError(StatusUnsupported, "qstore: scales of dtype %v", info.ScaleDtype)
		}
	}
	return l, nil
}

func view[T any](b []byte, size int) []T {
	if len(b) == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size)
}
