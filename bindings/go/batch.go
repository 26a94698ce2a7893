package qstore

// #include <stdlib.h>
// #include <qstore/qstore.h>
//
// /* The batched loads take arrays of output pointers. cgo does not let Go memory hold
//  * pointers passed to C, nor C keep Go pointers after a call, so Go passes one arena and
//  * the offsets in it, and the arrays of pointers are made here, in C memory, for the
//  * duration of the call. QSGO_NO_MEMORY: an array could not be allocated (no qs_error
//  * was written). */
// #define QSGO_NO_MEMORY 1000
// static void* qsgo_at(unsigned char* base, size_t offset) {
//     return offset == (size_t)-1 ? NULL : base + offset;
// }
// static void** qsgo_pointers(unsigned char* base, const size_t* offsets, size_t count) {
//     void** p = (void**)malloc((count ? count : 1) * sizeof *p);
//     if (p)
//         for (size_t k = 0; k < count; ++k) p[k] = qsgo_at(base, offsets[k]);
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
// /* Level 0 of every tensor: codes and scales in one batched call, then the zero points
//  * (which qs_load_low_many does not return) of the tensors that have them. */
// static qs_status qsgo_load_low_many(qs_file* f, size_t count, const size_t* indices, unsigned char* base,
//                                     const size_t* code_offsets, const size_t* code_sizes,
//                                     const size_t* scale_offsets, const size_t* scale_sizes,
//                                     const size_t* zp_offsets, const size_t* zp_sizes, qs_error* err) {
//     void** codes = qsgo_pointers(base, code_offsets, count);
//     void** scales = qsgo_pointers(base, scale_offsets, count);
//     qs_status s = codes && scales
//         ? qs_load_low_many_e(f, count, indices, codes, code_sizes, scales, scale_sizes, err)
//         : (qs_status)QSGO_NO_MEMORY;
//     for (size_t k = 0; k < count && s == QS_OK; ++k)
//         if (zp_sizes[k] > 0)
//             s = qs_load_level_e(f, indices[k], 0, codes[k], code_sizes[k], scales[k], scale_sizes[k],
//                                 qsgo_at(base, zp_offsets[k]), zp_sizes[k], err);
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

import (
	"fmt"
	"unsafe"
)

// Batch is the layout of a fixed list of tensors' high precision (File.HighBatch) or low
// precision (File.LowBatch) in one arena: a []byte that the caller owns and may reuse.
// LoadInto fills an arena with every tensor of the batch in one call, decoded in
// parallel on the file's threads; High and Low view a tensor's part of it without
// copying. A program that reloads keeps its Batch and arena: no allocation per load.
// A Batch may be used from many goroutines at once (on different arenas).
type Batch struct {
	f       *File
	low     bool
	indices []C.size_t  // the tensors, +1 entry: never empty
	infos   []LevelInfo // low: each tensor's level 0
	// Offsets (noBuffer: none) and sizes in the arena: the high bytes or the codes,
	// the scales and the zero points.
	codeOff, codeSize   []C.size_t
	scaleOff, scaleSize []C.size_t
	zpOff, zpSize       []C.size_t
	bytes               uint64
}

const noBuffer = ^C.size_t(0) // an offset that stands for NULL

// place lays out n more bytes, 8-byte aligned, and returns their offset and size.
func (b *Batch) place(n uint64) (C.size_t, C.size_t) {
	if n == 0 {
		return noBuffer, 0
	}
	off := b.bytes
	b.bytes += (n + 7) &^ 7
	return C.size_t(off), C.size_t(n)
}

func newBatch(f *File, indices []int, low bool) (*Batch, error) {
	b := &Batch{f: f, low: low, indices: make([]C.size_t, len(indices)+1)}
	for k, i := range indices {
		if i < 0 {
			return nil, newError(StatusInvalidArgument, "qstore: tensor index %d", i)
		}
		b.indices[k] = C.size_t(i)
	}
	n := len(indices) + 1
	b.codeOff, b.codeSize = make([]C.size_t, n), make([]C.size_t, n)
	b.scaleOff, b.scaleSize = make([]C.size_t, n), make([]C.size_t, n)
	b.zpOff, b.zpSize = make([]C.size_t, n), make([]C.size_t, n)
	return b, nil
}

// HighBatch lays out the high precision of the tensors at indices (in that order; a
// tensor may appear more than once).
func (f *File) HighBatch(indices []int) (*Batch, error) {
	b, err := newBatch(f, indices, false)
	if err != nil {
		return nil, err
	}
	sizes := make([]C.size_t, len(indices)+1)
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_high_sizes(raw, C.size_t(len(indices)), &b.indices[0], &sizes[0], e)
		})
	})
	if err != nil {
		return nil, err
	}
	for k := range indices {
		b.codeOff[k], b.codeSize[k] = b.place(uint64(sizes[k]))
		b.scaleOff[k], b.zpOff[k] = noBuffer, noBuffer
	}
	return b, nil
}

// LowBatch lays out the lowest precision (level 0: codes, scales, zero points) of the
// tensors at indices.
func (f *File) LowBatch(indices []int) (*Batch, error) {
	b, err := newBatch(f, indices, true)
	if err != nil {
		return nil, err
	}
	cInfos := make([]C.qs_level_info, len(indices)+1)
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qsgo_level0_infos(raw, C.size_t(len(indices)), &b.indices[0], &cInfos[0], e)
		})
	})
	if err != nil {
		return nil, err
	}
	b.infos = make([]LevelInfo, len(indices))
	for k := range indices {
		info := levelInfoFromC(0, &cInfos[k])
		if info.ScaleBytes > 0 && info.ScaleDtype != F16 && info.ScaleDtype != F32 {
			return nil, newError(StatusUnsupported, "qstore: scales of dtype %v", info.ScaleDtype)
		}
		b.infos[k] = info
		b.codeOff[k], b.codeSize[k] = b.place(info.CodeBytes)
		b.scaleOff[k], b.scaleSize[k] = b.place(info.ScaleBytes)
		b.zpOff[k], b.zpSize[k] = b.place(info.ZeroPointBytes)
	}
	return b, nil
}

// Len is the number of tensors in the batch.
func (b *Batch) Len() int { return len(b.indices) - 1 }

// Index is the file index of the batch's k-th tensor.
func (b *Batch) Index(k int) int { return int(b.indices[b.at(k)]) }

// at is k, or a panic when k is not a tensor of the batch (as a slice index would).
func (b *Batch) at(k int) int {
	if k < 0 || k >= b.Len() {
		panic(fmt.Sprintf("qstore: tensor %d of a batch of %d", k, b.Len()))
	}
	return k
}

// ArenaBytes is the size an arena of this batch must have at least.
func (b *Batch) ArenaBytes() int { return int(b.bytes) }

// NewArena makes an arena for this batch (ArenaBytes long, 8-byte aligned, as the
// typed views of Low need).
func (b *Batch) NewArena() []byte {
	words := make([]uint64, b.bytes/8+1) // uint64: 8-byte aligned; +1: never empty
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), int(b.bytes))
}

// LoadInto loads every tensor of the batch into arena, in one call. The arena must be
// at least ArenaBytes long (else StatusBufferTooSmall, nothing written) and, for a low
// batch, 8-byte aligned (as NewArena's are; else StatusInvalidArgument). A failing
// tensor's error names it; the arena's contents are then unspecified.
func (b *Batch) LoadInto(arena []byte) error {
	if uint64(len(arena)) < b.bytes {
		return newError(StatusBufferTooSmall, "qstore: arena of %d bytes for a batch of %d", len(arena), b.bytes)
	}
	if b.bytes == 0 {
		return b.f.use(func(*C.qs_file) error { return nil })
	}
	base := (*C.uchar)(unsafe.Pointer(&arena[0]))
	if b.low && uintptr(unsafe.Pointer(base))%8 != 0 {
		return newError(StatusInvalidArgument, "qstore: the arena of a low batch must be 8-byte aligned")
	}
	n := C.size_t(b.Len())
	return b.f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			if b.low {
				return C.qsgo_load_low_many(raw, n, &b.indices[0], base, &b.codeOff[0], &b.codeSize[0],
					&b.scaleOff[0], &b.scaleSize[0], &b.zpOff[0], &b.zpSize[0], e)
			}
			return C.qsgo_load_high_many(raw, n, &b.indices[0], base, &b.codeOff[0], &b.codeSize[0], e)
		})
	})
}

// High is the k-th tensor's high precision in arena (filled by LoadInto of a HighBatch).
func (b *Batch) High(arena []byte, k int) []byte {
	k = b.at(k)
	return sub(arena, b.codeOff[k], b.codeSize[k])
}

// Low is the k-th tensor's low precision in arena (filled by LoadInto of a LowBatch),
// typed as by LoadLow; its slices are views of arena. Only for a LowBatch.
func (b *Batch) Low(arena []byte, k int) *Level {
	k = b.at(k)
	l, _ := typedLevel(b.infos[k], sub(arena, b.codeOff[k], b.codeSize[k]),
		sub(arena, b.scaleOff[k], b.scaleSize[k])) // LowBatch checked the scale dtypes
	if b.zpSize[k] > 0 {
		l.ZeroPoints = sub(arena, b.zpOff[k], b.zpSize[k])
	}
	return l
}

func sub(mem []byte, off, n C.size_t) []byte {
	if off == noBuffer {
		return []byte{}
	}
	return mem[off : off+n : off+n]
}
