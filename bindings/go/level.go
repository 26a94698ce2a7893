package qstore

import "unsafe"

// CodeKind says how a level's codes are typed.
type CodeKind int

const (
	CodesRaw        CodeKind = iota // the tensor's own bytes (high level, passthrough): Bytes
	CodesI8                         // int8-row, int8-tensor, int8-group, int8-row-ct: I8
	CodesFP8E4M3                    // fp8-e4m3-*: Bytes hold OCP FP8 E4M3 codes
	CodesFP8E5M2                    // fp8-e5m2-tensor: Bytes hold OCP FP8 E5M2 codes
	CodesGGMLBlocks                 // q8_0, q4_0: Bytes hold ggml blocks (scales inside)
	CodesInt4Packed                 // int4-asym-group, gptq-int4: Int4 holds eight 4-bit codes per word
	CodesU8                         // uint8-asym-tensor: Bytes hold uint8 codes
)

// Level is one precision level of one tensor with its data typed by scheme: exactly
// one of Bytes, I8, Int4 holds the codes (see Kind); scales are ScalesF32 or ScalesF16
// (IEEE half bits) or neither; ZeroPoints for the asymmetric schemes.
type Level struct {
	Info       LevelInfo
	Kind       CodeKind
	Bytes      []byte
	I8         []int8
	Int4       []int32
	ScalesF32  []float32
	ScalesF16  []uint16
	ZeroPoints []byte
}

func kindOf(s Scheme) CodeKind {
	switch s {
	case Int8Row, Int8Tensor, Int8Group, Int8RowCt:
		return CodesI8
	case FP8E4M3Row, FP8E4M3Tensor, FP8E4M3Block128:
		return CodesFP8E4M3
	case FP8E5M2Tensor:
		return CodesFP8E5M2
	case Q8_0, Q4_0:
		return CodesGGMLBlocks
	case Int4AsymGroup, GptqInt4:
		return CodesInt4Packed
	case Uint8AsymTensor:
		return CodesU8
	}
	return CodesRaw
}

func bytesOf[T any](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
}

func ptrOf[T any](v []T) unsafe.Pointer {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Pointer(&v[0])
}

// CodeBytes are the codes as the bytes the C API wrote.
func (l *Level) CodeBytes() []byte {
	switch l.Kind {
	case CodesI8:
		return bytesOf(l.I8)
	case CodesInt4Packed:
		return bytesOf(l.Int4)
	}
	return l.Bytes
}

// ScaleBytes are the scales as the bytes the C API wrote.
func (l *Level) ScaleBytes() []byte {
	if l.ScalesF16 != nil {
		return bytesOf(l.ScalesF16)
	}
	return bytesOf(l.ScalesF32)
}

func elements(bytes uint64, size uint64, what string) (int, error) {
	if bytes%size != 0 {
		return 0, newError(StatusInternal, "qstore: %s bytes (%d) are not a multiple of %d", what, bytes, size)
	}
	return int(bytes / size), nil
}

// LoadLow loads the lowest precision (level 0) with typed codes, scales and zero points.
func (f *File) LoadLow(index int) (*Level, error) {
	return f.LoadLevel(index, 0)
}

// LoadLevel loads any precision level; the top level holds the high precision in Bytes.
func (f *File) LoadLevel(index, level int) (*Level, error) {
	info, err := f.LevelInfo(index, level)
	if err != nil {
		return nil, err
	}
	l := &Level{Info: info, Kind: kindOf(info.Scheme)}
	var codes unsafe.Pointer
	switch l.Kind {
	case CodesI8:
		l.I8 = make([]int8, info.CodeBytes)
		codes = ptrOf(l.I8)
	case CodesInt4Packed:
		n, err := elements(info.CodeBytes, 4, "codes")
		if err != nil {
			return nil, err
		}
		l.Int4 = make([]int32, n)
		codes = ptrOf(l.Int4)
	default:
		l.Bytes = make([]byte, info.CodeBytes)
		codes = ptrOf(l.Bytes)
	}
	var scales unsafe.Pointer
	if info.ScaleBytes > 0 {
		switch info.ScaleDtype {
		case F16:
			n, err := elements(info.ScaleBytes, 2, "scales")
			if err != nil {
				return nil, err
			}
			l.ScalesF16 = make([]uint16, n)
			scales = ptrOf(l.ScalesF16)
		case F32:
			n, err := elements(info.ScaleBytes, 4, "scales")
			if err != nil {
				return nil, err
			}
			l.ScalesF32 = make([]float32, n)
			scales = ptrOf(l.ScalesF32)
		default:
			return nil, newError(StatusUnsupported, "qstore: scales of dtype %v", info.ScaleDtype)
		}
	}
	if info.ZeroPointBytes > 0 {
		l.ZeroPoints = make([]byte, info.ZeroPointBytes)
	}
	err = f.loadLevel(index, level, codes, int(info.CodeBytes), scales, int(info.ScaleBytes),
		ptrOf(l.ZeroPoints), len(l.ZeroPoints))
	if err != nil {
		return nil, err
	}
	return l, nil
}
