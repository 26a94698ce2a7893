package qstore

// #include <qstore/qstore.h>
import "C"

import "unsafe"

// RowsLevelInfo describes level `level` of rows [firstRow, firstRow+rowCount)
// (dimension 0): sizes, and for schemes whose scales span several rows, the scales of
// the touched tiles.
func (f *File) RowsLevelInfo(index, level int, firstRow, rowCount uint64) (LevelInfo, error) {
	return f.levelInfo(index, level, func(raw *C.qs_file, c *C.qs_level_info, e *C.qs_error) C.qs_status {
		return C.qs_rows_level_info_get_e(raw, C.size_t(index), C.uint32_t(level), C.uint64_t(firstRow),
			C.uint64_t(rowCount), c, e)
	})
}

// LoadHighRows loads rows [firstRow, firstRow+rowCount) of the high precision,
// bit-exact; only the coding blocks that hold them are decoded (safetensors' get_slice).
func (f *File) LoadHighRows(index int, firstRow, rowCount uint64) ([]byte, error) {
	t, err := f.Tensor(index)
	if err != nil {
		return nil, err
	}
	info, err := f.RowsLevelInfo(index, t.NumLevels-1, firstRow, rowCount)
	if err != nil {
		return nil, err
	}
	out := make([]byte, info.CodeBytes)
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_load_high_rows_e(raw, C.size_t(index), C.uint64_t(firstRow), C.uint64_t(rowCount),
				bufPtr(out), C.size_t(len(out)), e)
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LoadLevelRows loads rows of any level, typed as by LoadLevel.
func (f *File) LoadLevelRows(index, level int, firstRow, rowCount uint64) (*Level, error) {
	info, err := f.RowsLevelInfo(index, level, firstRow, rowCount)
	if err != nil {
		return nil, err
	}
	zps := make([]byte, info.ZeroPointBytes)
	l, err := typedLevel(info, aligned(info.CodeBytes), aligned(info.ScaleBytes))
	if err != nil {
		return nil, err
	}
	cb, sb := l.CodeBytes(), l.ScaleBytes()
	err = f.use(func(raw *C.qs_file) error {
		return call(func(e *C.qs_error) C.qs_status {
			return C.qs_load_level_rows_e(raw, C.size_t(index), C.uint32_t(level), C.uint64_t(firstRow),
				C.uint64_t(rowCount), bufPtr(cb), C.size_t(len(cb)), bufPtr(sb), C.size_t(len(sb)), bufPtr(zps),
				C.size_t(len(zps)), e)
		})
	})
	if err != nil {
		return nil, err
	}
	if len(zps) > 0 {
		l.ZeroPoints = zps
	}
	return l, nil
}

// aligned is n bytes, 8-byte aligned (typed views of them are aligned).
func aligned(n uint64) []byte {
	words := make([]uint64, n/8+1)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
}
