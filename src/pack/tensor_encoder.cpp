#include "pack/tensor_encoder.hpp"

#include <fnmatch.h>

#include <cstring>

#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "residual/code_residual.hpp"
#include "residual/high_residual.hpp"
#include "schemes/int8.hpp"

namespace qstore {

namespace {

bool excluded(const std::string& name, const std::vector<std::string>& patterns) {
    for (const auto& p : patterns)
        if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
    return false;
}

// Scales as byte planes of their stored dtype: plane k holds byte k of every scale's
// float32 or float16 bit pattern (row scales of BF16/F16 weights have many zero low bytes).
ByteVector encode_scale_planes(StreamEncoder& encoder, const LowScheme& scheme, const std::vector<float>& scales) {
    const size_t n = scales.size(), width = dtype_size(scheme.scale_dtype());
    std::vector<uint8_t> planes(n * width);
    for (size_t k = 0; k < n; ++k) {
        const uint32_t bits = width == 4 ? f32_bits(scales[k]) : f16_bits_of_widened(scales[k]);
        for (size_t b = 0; b < width; ++b) planes[b * n + k] = static_cast<uint8_t>(bits >> (8 * b));
    }
    std::vector<std::pair<const uint8_t*, size_t>> streams;
    for (size_t b = 0; b < width; ++b) streams.emplace_back(planes.data() + b * n, n);
    ByteVector blob;
    encoder.encode(streams, blob);
    return blob;
}

}  // namespace

Geometry geometry_of(const SafetensorsTensor& t) {
    TensorRecord shape_only;
    shape_only.shape = t.shape;
    return shape_only.geometry();
}

uint64_t rows_per_block(const Geometry& g, uint64_t block_elements) {
    return std::max<uint64_t>(1, block_elements / std::max<uint64_t>(1, g.cols));
}

bool one_coding_block(const SafetensorsTensor& t, uint64_t block_elements) {
    const Geometry g = geometry_of(t);
    return g.rows <= rows_per_block(g, block_elements);
}

bool quantizable(const SafetensorsTensor& t, const PackOptions& o, const std::vector<const LowScheme*>& schemes) {
    if (!dtype_is_quantizable(t.dtype) || t.shape.size() < 2 || t.num_elements() == 0 || excluded(t.name, o.exclude))
        return false;
    const Geometry g = geometry_of(t);
    for (const LowScheme* s : schemes)
        if (!s->accepts(g)) return false;
    return true;
}

// ---- BlockArena ----

void BlockArena::reset(size_t count) {
    used_ = 0;
    slots_.assign(count, {0, 0});
}

void BlockArena::put(size_t i, const ByteVector& bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (used_ + bytes.size() > bytes_.capacity())  // grown by half at least: copies stay amortized
        bytes_.grow(std::max(used_ + bytes.size(), bytes_.capacity() + bytes_.capacity() / 2), used_);
    if (!bytes.empty()) std::memcpy(bytes_.data() + used_, bytes.data(), bytes.size());
    slots_[i] = {used_, bytes.size()};
    used_ += bytes.size();
}

std::vector<BlockRef> BlockArena::blocks(size_t first, size_t count) const {
    std::vector<BlockRef> out(count);
    for (size_t k = 0; k < count; ++k) out[k] = {bytes_.data() + slots_[first + k].first, slots_[first + k].second};
    return out;
}

// ---- TensorEncoder ----

// A thread's working memory for one block: reused, never zeroed.
struct TensorEncoder::Scratch {
    Scratch(int level, KernelSet kernels) : encoder(level, kernels), residual(kernels) {}
    StreamEncoder encoder;
    ResidualEncodeScratch residual;
    ReusableBytes prediction;
    ReusableBytes context;
    ReusableBytes predicted_codes;  // chains: the next level's codes as this one predicts them
    ByteVector block;               // the block being encoded, before it goes to the arena
};

// One level of a tensor in internal form (schemes/scheme.hpp), in buffers reused from
// tensor to tensor (`codes` may be longer than the tensor).
struct TensorEncoder::LevelBuffers {
    ReusableBytes codes;
    std::vector<float> scales;
    std::vector<uint8_t> zero_points;
    LowTensorData data() { return {codes.data(), scales.data(), zero_points.empty() ? nullptr : zero_points.data()}; }
};

TensorEncoder::TensorEncoder(const PackOptions& options, const std::vector<const LowScheme*>& schemes,
                             ThreadPool& pool)
    : options_(options), kernels_(kernel_set_capped(options.kernel_set)), schemes_(schemes), pool_(pool),
      scratch_([this] { return std::make_unique<Scratch>(options_.zstd_level, kernels_); }),
      arenas_([] { return std::make_unique<BlockArena>(); }),
      level_pool_([] { return std::make_unique<std::vector<LevelBuffers>>(); }) {}

TensorEncoder::~TensorEncoder() = default;

FormatFeatures TensorEncoder::features() const {
    std::lock_guard<std::mutex> lock(features_mutex_);
    return features_;
}

void TensorEncoder::note(const FormatFeatures& f) {
    std::lock_guard<std::mutex> lock(features_mutex_);
    features_ |= f;
}

EncodedTensor TensorEncoder::encode(TensorInput& input) {
    if (!input.quantize) return passthrough(input);
    const SafetensorsTensor& t = input.tensor;
    EncodedTensor e;
    e.given = input.given;
    e.schemes = input.schemes ? input.schemes : &schemes_;
    const std::vector<const LowScheme*>& schemes = *e.schemes;
    TensorRecord& rec = e.record;
    rec.name = t.name;
    rec.high_dtype = t.dtype;
    rec.shape = t.shape;
    for (const LowScheme* s : schemes) rec.low.push_back(s->spec());
    rec.rows_per_block = rows_per_block(rec.geometry(), options_.block_elements);
    FormatFeatures f;
    f.chain = schemes.size() > 1;
    f.scheme_since_1_1 = static_cast<int>(rec.low[0].id) > 5;
    for (const SchemeSpec& s : rec.low) f.scheme_since_1_5 = f.scheme_since_1_5 || static_cast<int>(s.id) > 11;
    f.rans_model = true;  // residual blocks hold rANS models
    note(f);
    // Leases given back once encoded (the parts hold no pointer into them).
    const uint8_t* high = input.high;
    auto levels = level_pool_.acquire();
    load_levels(t, e, high, *levels);
    e.arena.emplace(arenas_.acquire());
    encode_blocks(t, e, high, *levels, **e.arena);
    note_tiny_int8_scales(*levels);
    collect_parts(rec.geometry(), *levels, e);
    rec.levels.assign(e.levels.size(), {});  // parts: filled in when written
    return e;
}

EncodedTensor TensorEncoder::passthrough(TensorInput& input) {
    const SafetensorsTensor& t = input.tensor;
    EncodedTensor e;
    e.record.name = t.name;
    e.record.high_dtype = t.dtype;
    e.record.shape = t.shape;
    // Always aligned: passthrough bytes can then be viewed in place (qs_view_low).
    e.levels.resize(1);
    e.levels[0].push_back(
        PendingPart::owning(PartRole::data, PartEncoding::raw, std::move(input.bytes), kAlignment));
    e.low_separate_bytes = t.size;
    e.record.levels.assign(1, {});
    return e;
}

// A middle level of a chain in int8-row / int8-tensor with a scale whose codes the
// format 1.5 rule gives (schemes/int8.hpp) needs a 1.5 reader: older ones would
// predict its codes with the rule before.
void TensorEncoder::note_tiny_int8_scales(const std::vector<LevelBuffers>& levels) {
    for (size_t k = 1; k < schemes_.size(); ++k) {
        const auto* int8 = dynamic_cast<const Int8Scheme*>(schemes_[k]);
        if (!int8) continue;
        for (const float s : levels[k].scales)
            if (int8->tiny_scale(s)) {
                FormatFeatures f;
                f.int8_tiny_scale_chain = true;
                note(f);
                return;
            }
    }
}

// Every low level in internal form: from the given native layout, or the scales
// qstore's quantizer prepares.
void TensorEncoder::load_levels(const SafetensorsTensor& t, const EncodedTensor& e, const uint8_t* high,
                                std::vector<LevelBuffers>& levels) {
    const std::vector<const LowScheme*>& schemes = *e.schemes;
    const Geometry g = e.record.geometry();
    levels.resize(schemes.size());
    for (size_t k = 0; k < schemes.size(); ++k) {
        LevelBuffers& lv = levels[k];
        lv.codes.reserve(g.elements());  // all written later
        lv.scales.resize(schemes[k]->scale_count(g));
        lv.zero_points.resize(schemes[k]->has_zero_points() ? lv.scales.size() : 0);
        if (!e.given) {
            schemes[k]->prepare(kernels_, high, t.dtype, g, lv.data());
            continue;
        }
        const GivenLowBytes& given = *e.given;
        schemes[k]->from_native(given.codes.data(), given.scales.empty() ? nullptr : given.scales.data(),
                                 given.zero_points.empty() ? nullptr : given.zero_points.data(), g, lv.data());
    }
}

// Quantizes (unless given) and codes every block on the pool's threads. Slot
// k * nblocks + b of the arena holds level k's block b: k = 0 the codes, 1..L-1 the code
// residuals, L the residual to the high precision.
void TensorEncoder::encode_blocks(const SafetensorsTensor& t, const EncodedTensor& e, const uint8_t* high,
                                  std::vector<LevelBuffers>& levels, BlockArena& arena) {
    const std::vector<const LowScheme*>& schemes = *e.schemes;
    const Geometry g = e.record.geometry();
    const size_t L = schemes.size();
    const uint64_t rpb = e.record.rows_per_block, nblocks = (g.rows + rpb - 1) / rpb;
    for (uint64_t b = 0; b < nblocks; ++b)
        if (residual_block_is_word_layout((std::min(g.rows, (b + 1) * rpb) - b * rpb) * g.cols)) {
            FormatFeatures f;
            f.word_layout_block = true;
            note(f);
        }
    arena.reset((L + 1) * nblocks);
    pool_.parallel_for(nblocks, [&](size_t b) {
        const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
        if (!e.given)
            for (size_t k = 0; k < L; ++k) schemes[k]->quantize(kernels_, high, t.dtype, g, r0, r1, levels[k].data());
        auto s = scratch_.acquire();
        ByteVector& block = s->block;
        const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
        if (!options_.low_raw) {
            block.clear();
            s->encoder.encode({{levels[0].codes.data() + first, n}}, block);
            arena.put(b, block);
        }
        float* const prediction = reinterpret_cast<float*>(s->prediction.reserve(n * sizeof(float)));
        uint8_t* const context = s->context.reserve(n);
        for (size_t k = 0; k < L; ++k) {
            schemes[k]->predict(kernels_, levels[k].data().view(), g, first, n, prediction, context);
            block.clear();
            if (k + 1 < L) {  // the next level's codes, coded on this level's prediction
                uint8_t* const predicted_codes = s->predicted_codes.reserve(n);
                schemes[k + 1]->quantize_with_scales(kernels_, prediction, levels[k + 1].data().view(), g, first,
                                                      n, predicted_codes);
                encode_code_residual_block(levels[k + 1].codes.data() + first, predicted_codes, context, n,
                                           *schemes[k + 1], s->residual.rans, block);
            } else {
                encode_residual_block(high + first * dtype_size(t.dtype), t.dtype, prediction, context, n, s->residual,
                                      block);
            }
            arena.put((k + 1) * nblocks + b, block);
        }
    });
}

// The parts of every level, in file order: level 0's codes (raw in the native layout
// with --low-raw, so that qs_view_low can hand them out in place), each level's scales
// and zero points, the code residuals, and the residual on top.
void TensorEncoder::collect_parts(const Geometry& g, std::vector<LevelBuffers>& levels, EncodedTensor& e) {
    const std::vector<const LowScheme*>& schemes = *e.schemes;
    const size_t L = schemes.size();
    const uint64_t rpb = e.record.rows_per_block, nblocks = (g.rows + rpb - 1) / rpb;
    const BlockArena& arena = **e.arena;
    const uint64_t low_align = options_.low_raw ? kAlignment : 1;
    e.levels.resize(L + 1);
    auto s = scratch_.acquire();
    const LowScheme& s0 = *schemes[0];
    if (options_.low_raw) {
        ByteVector codes(s0.code_bytes(g)), scales(s0.scale_bytes(g)), zps(s0.zero_point_bytes(g));
        s0.to_native(levels[0].data().view(), g, codes.data(), scales.data(), zps.data());
        e.levels[0].push_back(PendingPart::owning(PartRole::codes, PartEncoding::raw, std::move(codes), low_align));
        e.levels[0].push_back(PendingPart::owning(PartRole::scales, PartEncoding::raw, std::move(scales), low_align));
        if (s0.has_zero_points())
            e.levels[0].push_back(PendingPart::owning(PartRole::zero_points, PartEncoding::raw, std::move(zps), low_align));
    } else {
        e.levels[0].push_back(PendingPart::of_blocks(PartRole::codes, arena.blocks(0, nblocks)));
    }
    for (size_t k = 0; k < L; ++k) {
        if (k > 0 || !options_.low_raw) {
            ByteVector blob = encode_scale_planes(s->encoder, *schemes[k], levels[k].scales);
            e.levels[k].push_back(PendingPart::owning(PartRole::scales, PartEncoding::byte_planes, std::move(blob), 1));
            if (schemes[k]->has_zero_points()) {
                blob.clear();
                s->encoder.encode({{levels[k].zero_points.data(), levels[k].zero_points.size()}}, blob);
                e.levels[k].push_back(
                    PendingPart::owning(PartRole::zero_points, PartEncoding::byte_planes, std::move(blob), 1));
            }
        }
        if (k > 0)
            e.levels[k].push_back(PendingPart::of_blocks(PartRole::code_residual, arena.blocks(k * nblocks, nblocks)));
        const LowScheme& sk = *schemes[k];
        e.low_separate_bytes += sk.code_bytes(g) + sk.scale_bytes(g) + sk.zero_point_bytes(g);
    }
    e.levels[L].push_back(PendingPart::of_blocks(PartRole::residual, arena.blocks(L * nblocks, nblocks)));
}

}  // namespace qstore
