package qstore

import "unsafe"

// LoadHighMany loads the high precision of several tensors in one call, decoded in
// parallel on the handle's threads (also across tensors: faster than one LoadHigh per
// tensor for models of many small tensors). The slices share one new allocation; to
// reload into the same memory, use HighBatch.
func (f *File) LoadHighMany(indices []int) ([][]byte, error) {
	b, err := f.HighBatch(indices)
	if err != nil {
		return nil, err
	}
	arena := b.NewArena()
	if err := b.LoadInto(arena); err != nil {
		return nil, err
	}
	out := make([][]byte, len(indices))
	for k := range out {
		out[k] = b.High(arena, k)
	}
	return out, nil
}

// LoadLowMany loads the lowest precision (level 0) of several tensors in one call,
// typed as by LoadLow. The slices share one new allocation; to reload into the same
// memory, use LowBatch.
func (f *File) LoadLowMany(indices []int) ([]*Level, error) {
	b, err := f.LowBatch(indices)
	if err != nil {
		return nil, err
	}
	arena := b.NewArena()
	if err := b.LoadInto(arena); err != nil {
		return nil, err
	}
	out := make([]*Level, len(indices))
	for k := range out {
		out[k] = b.Low(arena, k)
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
