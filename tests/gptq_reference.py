"""AutoGPTQ's 4-bit checkpoint layout (format v1: asymmetric, no act-order), rewritten
with numpy from the arithmetic of AutoGPTQ's source, as an independent reference for
qstore's `gptq-int4:G` scheme:

  auto_gptq/quantization/quantizer.py, Quantizer.find_params (per group, weight=True,
    perchannel, asymmetric, 4 bits): xmin/xmax clamped around 0, all-zero rows get
    -1/+1, scale = (xmax - xmin) / 15, zero = round(-xmin / scale), all in float32;
  auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, QuantLinear.pack: scales go to
    float16, codes are round((W + zero * scale) / scale_fp16) with the float32 scale in
    the product, packed 8 per int32 along the input dimension (qweight [in/8, out]);
    zeros - 1 packed 8 per int32 along the output dimension (qzeros [groups, out/8]);
    g_idx [in] = i // group_size;
  and the matching unpack of QuantLinear.forward: nibble k of a word is bits 4k..4k+3,
    zero = qzeros nibble + 1, weight = scale * (code - zero).

torch.round and numpy.rint both round half to even. Nothing is clamped, as in
AutoGPTQ: an integer weight outside 0..15 (or a zero point of 0, stored as -1) is
OR-ed into the packed word as its 32-bit two's complement, spilling into the
neighbouring nibbles. `spills` reports where that happens (qstore clamps there).
"""
import numpy as np

BITS = 4
MAXQ = 2 ** BITS - 1


def f16(x):
    """float32 -> float16, round to nearest even, overflow to infinity."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float16)


def find_params(w):
    """Quantizer.find_params on a float32 [rows, n] slice: (scale, zero) per row, float32."""
    w = np.asarray(w, dtype=np.float32)
    xmin = np.minimum(w.min(axis=1), np.float32(0))
    xmax = np.maximum(w.max(axis=1), np.float32(0))
    both_zero = (xmin == 0) & (xmax == 0)
    xmin = np.where(both_zero, np.float32(-1), xmin).astype(np.float32)
    xmax = np.where(both_zero, np.float32(1), xmax).astype(np.float32)
    scale = ((xmax - xmin) / np.float32(MAXQ)).astype(np.float32)
    zero = np.rint((-xmin) / scale).astype(np.float32)
    return scale, zero


def quantize_params(w, group_size):
    """find_params on every group of group_size columns: scales, zeros [rows, groups]."""
    rows, cols = w.shape
    scales, zeros = [], []
    for g0 in range(0, cols, group_size):
        s, z = find_params(w[:, g0:g0 + group_size])
        scales.append(s)
        zeros.append(z)
    return np.stack(scales, axis=1), np.stack(zeros, axis=1)


def int_weights(w, scales, zeros, group_size):
    """pack()'s intweight before its integer cast, [in, out] float32: the integer each
    weight becomes, unclamped (NaN or infinite where a float16 scale is 0 or infinite,
    which AutoGPTQ casts to an undefined integer)."""
    w = np.asarray(w, dtype=np.float32)
    scales_t = scales.T.astype(np.float32)            # [groups, out]
    zeros_t = zeros.T.astype(np.float32)
    scale_zeros = (zeros_t * scales_t).astype(np.float32)
    with np.errstate(over="ignore"):
        scales16 = scales_t.astype(np.float16).astype(np.float32)
    g_idx = np.arange(w.shape[1]) // group_size
    numer = (w.T + scale_zeros[g_idx]).astype(np.float32)  # [in, out]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.rint(numer / scales16[g_idx]).astype(np.float32)


def pack_rows_of_8(values, axis):
    """ORs eight values at a time (32-bit two's complement, shifted 4k) along `axis`."""
    v = (np.asarray(values, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint64)
    v = np.moveaxis(v, axis, 0)
    out = np.zeros((v.shape[0] // 8,) + v.shape[1:], dtype=np.uint64)
    for k in range(8):
        out |= (v[k::8] << np.uint64(4 * k)) & np.uint64(0xFFFFFFFF)
    return np.moveaxis(out.astype(np.uint32).view(np.int32), 0, axis)


def pack(w, group_size):
    """The checkpoint tensors AutoGPTQ writes for weight w [out, in] (float32 values):
    dict qweight, qzeros, scales, g_idx, and the intermediate intweight and zeros."""
    scales, zeros = quantize_params(w, group_size)
    v = int_weights(w, scales, zeros, group_size)
    intweight = np.where(np.isfinite(v), v, -2.0 ** 31).astype(np.int64)  # x86's cast of NaN / Inf
    zeros_v1 = np.nan_to_num(zeros.T, nan=0.0).astype(np.int64) - 1       # [groups, out]
    return {
        "qweight": pack_rows_of_8(intweight, 0),            # [in/8, out]
        "qzeros": pack_rows_of_8(zeros_v1, 1),              # [groups, out/8]
        "scales": f16(scales.T),                            # [groups, out]
        "g_idx": (np.arange(w.shape[1]) // group_size).astype(np.int32),
        "intweight": np.where(np.isfinite(v), intweight, -1),  # non-finite: counted as spilled
        "zeros": np.nan_to_num(zeros.T, nan=-1.0).astype(np.int64),
    }


def spills(ref):
    """Masks of the packed words where qstore's clamps change AutoGPTQ's bytes: qweight
    words with an intweight outside 0..15 (which AutoGPTQ's packer spills into the
    neighbouring nibbles) or in a group whose zero point is outside 1..15; qzeros words
    with such a zero point (a zero point of 0 is stored as -1 and spills)."""
    iw, z = ref["intweight"], ref["zeros"]
    bad_zero = (z < 1) | (z > MAXQ)                       # [groups, out]
    bad = (iw < 0) | (iw > MAXQ) | bad_zero[ref["g_idx"]]  # [in, out]
    bad_w = bad.reshape(iw.shape[0] // 8, 8, iw.shape[1]).any(axis=1)
    bad_z = bad_zero.reshape(z.shape[0], z.shape[1] // 8, 8).any(axis=2)
    return bad_w, bad_z


def pack_clamped(w, group_size):
    """pack() with qstore's two clamps (zero point 1..15, codes 0..15)."""
    scales, zeros = quantize_params(w, group_size)
    zeros = np.clip(np.nan_to_num(zeros, nan=1.0), 1, MAXQ).astype(np.float32)
    v = int_weights(w, scales, zeros, group_size)
    zero_of = np.broadcast_to(zeros.T[np.arange(w.shape[1]) // group_size], v.shape)
    intweight = np.clip(np.where(np.isnan(v), zero_of, v), 0, MAXQ).astype(np.int64)  # NaN -> the zero point
    return {
        "qweight": pack_rows_of_8(intweight, 0),
        "qzeros": pack_rows_of_8(zeros.T.astype(np.int64) - 1, 1),
        "scales": f16(scales.T),
        "g_idx": (np.arange(w.shape[1]) // group_size).astype(np.int32),
    }


def unpack(qweight, qzeros, scales, g_idx):
    """QuantLinear.forward's dequantization: codes [in, out], zero points [groups, out]
    and the float16 weight [out, in] (scale * (code - zero))."""
    shifts = np.arange(0, 32, BITS, dtype=np.uint32)
    qw = qweight.view(np.uint32)
    codes = ((qw[:, None, :] >> shifts[None, :, None]) & MAXQ).reshape(-1, qw.shape[1]).astype(np.int32)
    qz = qzeros.view(np.uint32)
    zeros = ((qz[:, :, None] >> shifts[None, None, :]) & MAXQ).reshape(qz.shape[0], -1).astype(np.int32) + 1
    g = g_idx.astype(np.int64)
    weight = (scales[g].astype(np.float32) * (codes - zeros[g]).astype(np.float32)).astype(np.float16)
    return codes, zeros, weight.T
