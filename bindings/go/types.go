package qstore

// #include <qstore/qstore.h>
import "C"

// Dtype is an element type (safetensors' names from String).
type Dtype int

const (
	DtypeUnknown Dtype = C.QS_DTYPE_UNKNOWN
	F32          Dtype = C.QS_DTYPE_F32
	F16          Dtype = C.QS_DTYPE_F16
	BF16         Dtype = C.QS_DTYPE_BF16
	F64          Dtype = C.QS_DTYPE_F64
	I8           Dtype = C.QS_DTYPE_I8
	U8           Dtype = C.QS_DTYPE_U8
	I16          Dtype = C.QS_DTYPE_I16
	U16          Dtype = C.QS_DTYPE_U16
	I32          Dtype = C.QS_DTYPE_I32
	U32          Dtype = C.QS_DTYPE_U32
	I64          Dtype = C.QS_DTYPE_I64
	U64          Dtype = C.QS_DTYPE_U64
	Bool         Dtype = C.QS_DTYPE_BOOL
	F8E4M3       Dtype = C.QS_DTYPE_F8_E4M3
	F8E5M2       Dtype = C.QS_DTYPE_F8_E5M2
)

var dtypeNames = map[Dtype]string{DtypeUnknown: "UNKNOWN", F32: "F32", F16: "F16", BF16: "BF16", F64: "F64",
	I8: "I8", U8: "U8", I16: "I16", U16: "U16", I32: "I32", U32: "U32", I64: "I64", U64: "U64", Bool: "BOOL",
	F8E4M3: "F8_E4M3", F8E5M2: "F8_E5M2"}

func (d Dtype) String() string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return "UNKNOWN"
}

// DtypeFromName is the dtype of a safetensors name ("F32", "BF16", ...).
func DtypeFromName(name string) (Dtype, bool) {
	for d, n := range dtypeNames {
		if n == name && d != DtypeUnknown {
			return d, true
		}
	}
	return DtypeUnknown, false
}

// Scheme is a low-precision scheme (qs_low_scheme; layouts in qstore.h).
type Scheme int

const (
	Passthrough     Scheme = C.QS_LOW_PASSTHROUGH
	Int8Row         Scheme = C.QS_LOW_INT8_ROW
	Int8Tensor      Scheme = C.QS_LOW_INT8_TENSOR
	FP8E4M3Row      Scheme = C.QS_LOW_FP8_E4M3_ROW
	FP8E4M3Tensor   Scheme = C.QS_LOW_FP8_E4M3_TENSOR
	FP8E5M2Tensor   Scheme = C.QS_LOW_FP8_E5M2_TENSOR
	Int8Group       Scheme = C.QS_LOW_INT8_GROUP
	Q8_0            Scheme = C.QS_LOW_Q8_0
	Q4_0            Scheme = C.QS_LOW_Q4_0
	FP8E4M3Block128 Scheme = C.QS_LOW_FP8_E4M3_BLOCK128
	Int4AsymGroup   Scheme = C.QS_LOW_INT4_ASYM_GROUP
	Uint8AsymTensor Scheme = C.QS_LOW_UINT8_ASYM_TENSOR
	GptqInt4        Scheme = C.QS_LOW_GPTQ_INT4   // AutoGPTQ's qweight/qzeros/scales layout
	Int8RowCt       Scheme = C.QS_LOW_INT8_ROW_CT // compressed-tensors' INT8 per row
)

// TensorInfo describes one tensor (qs_tensor_info).
type TensorInfo struct {
	Index       int
	Name        string
	Dtype       Dtype
	Shape       []uint64
	NumElements uint64
	// NumLevels: 1 passthrough, 2 low + high, 3+ a chain.
	NumLevels           int
	LowScheme           Scheme // of level 0, what LoadLow returns
	LowDtype            Dtype
	LowGroupSize        int
	LowScaleDtype       Dtype
	HighBytes           uint64
	LowCodeBytes        uint64
	LowScaleBytes       uint64
	LowZeroPointBytes   uint64
	StoredLowBytes      uint64
	StoredResidualBytes uint64
	LowCodesAreRaw      bool
}

func tensorInfoFromC(index int, c *C.qs_tensor_info) TensorInfo {
	ndim := int(c.ndim)
	if ndim > C.QS_MAX_DIMS {
		ndim = C.QS_MAX_DIMS
	}
	shape := make([]uint64, ndim)
	for i := range shape {
		shape[i] = uint64(c.shape[i])
	}
	return TensorInfo{
		Index: index, Name: C.GoString(c.name), Dtype: Dtype(c.high_dtype), Shape: shape,
		NumElements: uint64(c.num_elements), NumLevels: int(c.num_levels), LowScheme: Scheme(c.low_scheme),
		LowDtype: Dtype(c.low_dtype), LowGroupSize: int(c.low_group_size), LowScaleDtype: Dtype(c.low_scale_dtype),
		HighBytes: uint64(c.high_bytes), LowCodeBytes: uint64(c.low_code_bytes),
		LowScaleBytes: uint64(c.low_scale_bytes), LowZeroPointBytes: uint64(c.low_zero_point_bytes),
		StoredLowBytes: uint64(c.stored_low_bytes), StoredResidualBytes: uint64(c.stored_residual_bytes),
		LowCodesAreRaw: c.low_codes_are_raw != 0,
	}
}

// LevelInfo describes one precision level of a tensor (qs_level_info): level 0 is the
// lowest, the top level (NumLevels-1) the high precision (scheme Passthrough).
type LevelInfo struct {
	Level          int
	Scheme         Scheme
	GroupSize      int
	CodeDtype      Dtype
	ScaleDtype     Dtype
	CodeBytes      uint64
	ScaleBytes     uint64
	ZeroPointBytes uint64
	StoredBytes    uint64
}

func levelInfoFromC(level int, c *C.qs_level_info) LevelInfo {
	return LevelInfo{
		Level: level, Scheme: Scheme(c.scheme), GroupSize: int(c.group_size), CodeDtype: Dtype(c.code_dtype),
		ScaleDtype: Dtype(c.scale_dtype), CodeBytes: uint64(c.code_bytes), ScaleBytes: uint64(c.scale_bytes),
		ZeroPointBytes: uint64(c.zero_point_bytes), StoredBytes: uint64(c.stored_bytes),
	}
}
