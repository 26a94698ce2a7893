#include "pack/packer.hpp"

#include <fnmatch.h>
#include <zstd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>

#include "pack/given_low.hpp"
#include "schemes/layout.hpp"
#include "io/atomic_file.hpp"
#include "base/checksum.hpp"
#include "base/error.hpp"
#include "io/file_sink.hpp"
#include "base/float_bits.hpp"
#include "container/format.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "residual/code_residual.hpp"
#include "residual/high_residual.hpp"
#include "base/reusable_bytes.hpp"
#include "entropy/stream_set.hpp"
#include "base/thread_pool.hpp"
#include "base/version.hpp"

namespace qstore {

namespace {

// One level of a tensor in internal form (schemes/scheme.hpp), in buffers reused from tensor
// to tensor (`codes` may be longer than the tensor).
struct LowLevelBuffers {
    ReusableBytes codes;
    std::vector<float> scales;
    std::vector<uint8_t> zero_points;
    LowTensorData data() { return {codes.data(), scales.data(), zero_points.empty() ? nullptr : zero_points.data()}; }
};

// The encoded blocks of one tensor, every level's, back to back in one buffer reused
// from tensor to tensor (one per tensor being encoded). Blocks are encoded in parallel
// into their thread's scratch and copied in as they complete. One reused buffer (on
// 2 MiB pages once it is that large) rather than a vector per block: first touches of
// the blocks' vectors, a page fault per 4 KiB, took 15-19% of the pack time of models
// of large tensors on this VM (docs/BENCHMARKS.md).
class BlockArena {
public:
    // Starts a tensor of `count` block slots, all empty.
    void reset(size_t count) {
        used_ = 0;
        slots_.assign(count, {0, 0});
    }
    // Stores slot i's bytes; safe to call from several threads.
    void put(size_t i, const ByteVector& bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (used_ + bytes.size() > bytes_.capacity())  // grown by half at least: copies stay amortized
            bytes_.grow(std::max(used_ + bytes.size(), bytes_.capacity() + bytes_.capacity() / 2), used_);
        if (!bytes.empty()) std::memcpy(bytes_.data() + used_, bytes.data(), bytes.size());
        slots_[i] = {used_, bytes.size()};
        used_ += bytes.size();
    }
    // Slots [first, first + count), once all are stored.
    std::vector<BlockRef> blocks(size_t first, size_t count) const {
        std::vector<BlockRef> out(count);
        for (size_t k = 0; k < count; ++k) out[k] = {bytes_.data() + slots_[first + k].first, slots_[first + k].second};
        return out;
    }

private:
    std::mutex mutex_;
    // On 2 MiB pages only from 2 MiB: one arena per tensor in flight, mostly small.
    ReusableBytes bytes_{size_t(2) << 20};
    size_t used_ = 0;
    std::vector<std::pair<size_t, size_t>> slots_;  // offset, size
};

struct EncodeScratch {
    explicit EncodeScratch(int level) : encoder(level) {}
    StreamEncoder encoder;
    // A block's predictions, contexts and (chains) predicted codes: reused, never zeroed.
    ReusableBytes prediction;
    ReusableBytes context;
    ReusableBytes predicted_codes;
    ByteVector block;  // the block being encoded, before it goes to the tensor's arena
};

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

// Coding blocks are whole rows, about block_elements elements each.
uint64_t rows_per_block(const Geometry& g, uint64_t block_elements) {
    return std::max<uint64_t>(1, block_elements / std::max<uint64_t>(1, g.cols));
}

bool one_coding_block(const SafetensorsTensor& t, uint64_t block_elements) {
    TensorRecord shape_only;
    shape_only.shape = t.shape;
    const Geometry g = shape_only.geometry();
    return g.rows <= rows_per_block(g, block_elements);
}

bool excluded(const std::string& name, const std::vector<std::string>& patterns) {
    for (const auto& p : patterns)
        if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
    return false;
}

bool should_quantize(const SafetensorsTensor& t, const PackOptions& o) {
    return dtype_is_quantizable(t.dtype) && t.shape.size() >= 2 && t.num_elements() > 0 && !excluded(t.name, o.exclude);
}

// Whether the pack quantizes t (given low codes permitting): every scheme must take its shape.
bool quantizable(const SafetensorsTensor& t, const PackOptions& o, const std::vector<const LowScheme*>& schemes) {
    if (!should_quantize(t, o)) return false;
    TensorRecord shape_only;
    shape_only.shape = t.shape;
    const Geometry g = shape_only.geometry();
    for (const LowScheme* s : schemes)
        if (!s->accepts(g)) return false;
    return true;
}

// Matches the given low file to the high model (pack/given_low.hpp) into stats; with
// options.strict_given_low, a tensor left unused or unquantized is an error.
GivenLowMatch match_given(const SafetensorsReader& high, const TensorSource& low, const PackOptions& options,
                          const std::vector<const LowScheme*>& schemes, PackStats& stats, const std::string& out_path) {
    GivenLowMatch m = match_given_low(high.tensors(), low, *schemes[0],
                                      [&](const SafetensorsTensor& t) { return quantizable(t, options, schemes); });
    stats.given_low_unused = m.unused;
    stats.given_low_missing = m.missing;
    if (options.strict_given_low && !(m.unused.empty() && m.missing.empty()))
        fail(Errc::invalid_argument,
             out_path + ": the given low-precision file does not match the model (strict): " +
                 std::to_string(m.unused.size()) + " of its tensors unused (" + name_list(m.unused, 8) + "), " +
                 std::to_string(m.missing.size()) + " quantizable tensors without usable " + schemes[0]->name() +
                 " codes and scales (" + name_list(m.missing, 8) + ")");
    return m;
}

// The index of a model of thousands of tensors is a few hundred KB. Its compression runs
// once per pack, in a fresh context whose tables are first-touched memory: on maxim
// (2731 tensors, index 477 KB) level 12 took 34 ms (9% of the pack) for 6 KB less than
// level 3's 7 ms (0.02% of the file); level 19 took a third of the pack.
constexpr int kIndexZstdLevel = 3;

std::vector<uint8_t> zstd_frame(const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kIndexZstdLevel);
    if (ZSTD_isError(n)) fail(Errc::internal, "zstd compression of the index failed");
    out.resize(n);
    return out;
}

SectionEntry write_small_section(FileSink& sink, SectionKind kind, const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> stored = zstd_frame(raw);
    const bool compressed = stored.size() < raw.size();
    if (!compressed) stored = raw;
    sink.pad_to(kAlignment);
    SectionEntry e;
    e.kind = static_cast<uint32_t>(kind);
    e.flags = kSectionRequired | (compressed ? kSectionZstd : 0);
    e.offset = sink.position();
    e.stored_size = stored.size();
    e.raw_size = raw.size();
    e.checksum = checksum(stored.data(), stored.size());
    sink.write(stored.data(), stored.size());
    return e;
}

// One part of an encoded tensor, not yet written: bytes it owns (the whole part, or a
// block container's table), then bytes it points to (the blocks in its tensor's arena,
// or, for passthrough tensors, the mapped input), valid until the tensor is written.
struct PendingPart {
    PartRole role;
    PartEncoding encoding;
    ByteVector owned;
    std::vector<BlockRef> borrowed;
    uint64_t align = 1;

    static PendingPart owning(PartRole r, PartEncoding e, ByteVector bytes, uint64_t align) {
        return PendingPart{r, e, std::move(bytes), {}, align};
    }
    static PendingPart of_blocks(PartRole r, std::vector<BlockRef> blocks) {
        const std::vector<uint8_t> table = block_container_table(blocks);
        return PendingPart{r, PartEncoding::blocks, ByteVector(table.begin(), table.end()), std::move(blocks), 1};
    }
};

// One level's section being written: where it starts and its running checksum.
struct SectionWriter {
    FileSink& sink;
    uint64_t start;
    PartRef write_part(const PendingPart& part) {
        sink.pad_to(part.align);
        PartRef p;
        p.role = part.role;
        p.encoding = part.encoding;
        p.offset = sink.position() - start;
        if (part.borrowed.empty()) {
            p.checksum = checksum(part.owned.data(), part.owned.size());
        } else if (part.owned.empty() && part.borrowed.size() == 1) {
            p.checksum = checksum(part.borrowed[0].data, part.borrowed[0].size);
        } else {
            Checksummer sum;  // the XXH3 of the owned and the borrowed bytes back to back
            sum.update(part.owned.data(), part.owned.size());
            for (const BlockRef& b : part.borrowed) sum.update(b.data, b.size);
            p.checksum = sum.digest();
        }
        sink.write(part.owned.data(), part.owned.size());
        p.size = part.owned.size();
        for (const BlockRef& b : part.borrowed) {
            sink.write(b.data, b.size);
            p.size += b.size;
        }
        return p;
    }
};

// A tensor encoded in memory; its parts get their offsets when it is written.
struct EncodedTensor {
    TensorRecord record;                           // levels sized, parts empty
    std::vector<std::vector<PendingPart>> levels;  // per level, in file order
    const SafetensorsTensor* given[3] = {nullptr, nullptr, nullptr};  // --low file's tensors used
    uint64_t low_separate_bytes = 0;
    std::optional<ResourcePool<BlockArena>::Lease> arena;  // its blocks (quantized tensors)
};

// What encoding a tensor needs, shared by the threads that encode tensors side by side.
struct PackJob {
    const SafetensorsReader& high_file;
    const PackOptions& options;
    const TensorSource* given_low;
    const std::vector<const LowScheme*>& schemes;
    ThreadPool& pool;
    ResourcePool<EncodeScratch>& scratch_pool;
    const GivenLowMatch* given_match;  // with given_low: its tensors for each high tensor
    // The lowest format minor version that reads the file (header): the largest any
    // feature used needs.
    std::atomic<uint16_t> minor{0};
    ResourcePool<BlockArena> arenas{[] { return std::make_unique<BlockArena>(); }};
    // Quantized tensors' high bytes, read with pread (MappedFile::read_at): quantization
    // and the residual encoder read them from there, not through the mapping (first
    // touches of mapped pages: a page fault per 16 pages, TLB misses on 4 KiB pages).
    // Even for small tensors: reading through the mapping only below 64 KiB was slower
    // on maxim (0.272 -> 0.292 s). Tensors up to kWindowedInput bytes come from a
    // read-ahead window instead of a pread each (the next tensors in the file are then
    // read along; maxim has 2169 tensors of <= 8 KiB).
    ResourcePool<ReusableBytes> inputs{[] { return std::make_unique<ReusableBytes>(); }};
    static constexpr size_t kInputWindow = size_t{512} << 10;
    static constexpr size_t kWindowedInput = kInputWindow / 4;
    struct InputWindow {
        ReusableBytes memory;
        ReadAhead ahead;
    };
    ResourcePool<InputWindow> input_windows{[] { return std::make_unique<InputWindow>(); }};
    // The levels of the tensors being encoded (one per thread at most).
    ResourcePool<std::vector<LowLevelBuffers>> level_pool{[] { return std::make_unique<std::vector<LowLevelBuffers>>(); }};

    void need_minor(uint16_t m) {
        uint16_t cur = minor.load();
        while (cur < m && !minor.compare_exchange_weak(cur, m)) {
        }
    }
    EncodedTensor encode(const SafetensorsTensor& t);
};

EncodedTensor PackJob::encode(const SafetensorsTensor& t) {
    const std::string what = t.source + ": tensor '" + t.name + "'";
    const size_t L = schemes.size();  // low levels; level L is the residual to the high precision
    const uint64_t low_align = options.low_raw ? kAlignment : 1;
    EncodedTensor out;
    TensorRecord& rec = out.record;
    rec.name = t.name;
    rec.high_dtype = t.dtype;
    rec.shape = t.shape;
    bool quantize = quantizable(t, options, schemes);
    const Geometry g = rec.geometry();
    // The given file's tensors for this one (pack/given_low.hpp), if it quantizes it.
    const SafetensorsTensor** given = out.given;
    if (quantize && given_low) {
        const GivenLowTensors& m = given_match->of.at(static_cast<size_t>(&t - high_file.tensors().data()));
        given[0] = m.codes;
        given[1] = m.scales;
        given[2] = m.zero_points;
        quantize = given[0] != nullptr;  // the low file does not quantize it: kept as it is
    }
    if (!quantize) {
        out.levels.resize(1);
        // Always aligned: passthrough bytes can then be viewed in place (qs_view_low).
        // Copied with pread: an input that shrinks during the pack is an error, not SIGBUS.
        ByteVector bytes(t.size);
        high_file.read(t, bytes.data());
        out.levels[0].push_back(PendingPart::owning(PartRole::data, PartEncoding::raw, std::move(bytes), kAlignment));
        out.low_separate_bytes += t.size;
    } else {
        // Leases given back once encoded (the parts hold no pointer into them).
        std::optional<ResourcePool<ReusableBytes>::Lease> input;
        std::optional<ResourcePool<InputWindow>::Lease> window;
        const uint8_t* high;
        if (t.size <= kWindowedInput) {
            window.emplace(input_windows.acquire());
            InputWindow& w = **window;
            high = high_file.read(t, w.ahead, w.memory.reserve(kInputWindow), kInputWindow);
        } else {
            input.emplace(inputs.acquire());
            uint8_t* const bytes = (*input)->reserve(t.size);
            high_file.read(t, bytes);
            high = bytes;
        }
        for (const LowScheme* s : schemes) rec.low.push_back(s->spec());
        if (L > 1 || static_cast<int>(rec.low[0].id) > 5) need_minor(1);
        need_minor(kRansModelFormatMinor);  // residual blocks hold rANS models
        // Every level in internal form (schemes/scheme.hpp), in buffers kept from tensor to tensor.
        auto levels = level_pool.acquire();
        std::vector<LowLevelBuffers>& lv = *levels;
        lv.resize(L);
        for (size_t k = 0; k < L; ++k) {
            lv[k].codes.reserve(g.elements());  // all written below
            lv[k].scales.resize(schemes[k]->scale_count(g));
            lv[k].zero_points.resize(schemes[k]->has_zero_points() ? lv[k].scales.size() : 0);
            if (given[0]) {
                // The given parts copied with pread (not read through the mapping: SIGBUS
                // if the low file shrinks during the pack).
                std::vector<uint8_t> native[3];
                for (size_t j = 0; j < 3; ++j)
                    if (given[j]) {
                        native[j].resize(given[j]->size);
                        given_low->read(*given[j], native[j].data());
                    }
                schemes[k]->from_native(native[0].data(), given[1] ? native[1].data() : nullptr,
                                        given[2] ? native[2].data() : nullptr, g, lv[k].data());
            } else {
                schemes[k]->prepare(high, t.dtype, g, lv[k].data());
            }
        }
        const uint64_t rpb = rows_per_block(g, options.block_elements);
        const uint64_t nblocks = (g.rows + rpb - 1) / rpb;
        rec.rows_per_block = rpb;
        for (uint64_t b = 0; b < nblocks; ++b)
            if (residual_block_is_word_layout((std::min(g.rows, (b + 1) * rpb) - b * rpb) * g.cols)) need_minor(1);
        // Slot k * nblocks + b of the arena: level k's block b (k = 0 the codes, 1..L-1
        // code residuals, L the residual).
        out.arena.emplace(arenas.acquire());
        BlockArena& arena = **out.arena;
        arena.reset((L + 1) * nblocks);
        pool.parallel_for(nblocks, [&](size_t b) {
            const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
            if (!given[0])
                for (size_t k = 0; k < L; ++k) schemes[k]->quantize(high, t.dtype, g, r0, r1, lv[k].data());
            auto s = scratch_pool.acquire();
            ByteVector& block = s->block;
            const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
            if (!options.low_raw) {
                block.clear();
                s->encoder.encode({{lv[0].codes.data() + first, n}}, block);
                need_minor(s->encoder.format_minor());
                arena.put(b, block);
            }
            float* const prediction = reinterpret_cast<float*>(s->prediction.reserve(n * sizeof(float)));
            uint8_t* const context = s->context.reserve(n);
            for (size_t k = 0; k < L; ++k) {
                schemes[k]->predict(lv[k].data().view(), g, first, n, prediction, context);
                block.clear();
                if (k + 1 < L) {  // the next level's codes, coded on this level's prediction
                    uint8_t* const predicted_codes = s->predicted_codes.reserve(n);
                    schemes[k + 1]->quantize_with_scales(prediction, lv[k + 1].data().view(), g, first, n,
                                                         predicted_codes);
                    encode_code_residual_block(lv[k + 1].codes.data() + first, predicted_codes, context, n,
                                               *schemes[k + 1], block);
                } else {
                    encode_residual_block(high + first * dtype_size(t.dtype), t.dtype, prediction, context, n,
                                          block);
                }
                arena.put((k + 1) * nblocks + b, block);
            }
        });
        out.levels.resize(L + 1);
        auto enc = scratch_pool.acquire();
        const LowScheme& s0 = *schemes[0];
        if (options.low_raw) {
            // Raw parts hold the native layout, so qs_view_low can hand them out in place.
            ByteVector codes(s0.code_bytes(g)), scales(s0.scale_bytes(g)), zps(s0.zero_point_bytes(g));
            s0.to_native(lv[0].data().view(), g, codes.data(), scales.data(), zps.data());
            out.levels[0].push_back(PendingPart::owning(PartRole::codes, PartEncoding::raw, std::move(codes), low_align));
            out.levels[0].push_back(PendingPart::owning(PartRole::scales, PartEncoding::raw, std::move(scales), low_align));
            if (s0.has_zero_points())
                out.levels[0].push_back(PendingPart::owning(PartRole::zero_points, PartEncoding::raw, std::move(zps), low_align));
        } else {
            out.levels[0].push_back(PendingPart::of_blocks(PartRole::codes, arena.blocks(0, nblocks)));
        }
        for (size_t k = 0; k < L; ++k) {
            if (k > 0 || !options.low_raw) {
                ByteVector blob = encode_scale_planes(enc->encoder, *schemes[k], lv[k].scales);
                need_minor(enc->encoder.format_minor());
                out.levels[k].push_back(PendingPart::owning(PartRole::scales, PartEncoding::byte_planes, std::move(blob), 1));
                if (schemes[k]->has_zero_points()) {
                    blob.clear();
                    enc->encoder.encode({{lv[k].zero_points.data(), lv[k].zero_points.size()}}, blob);
                    need_minor(enc->encoder.format_minor());
                    out.levels[k].push_back(
                        PendingPart::owning(PartRole::zero_points, PartEncoding::byte_planes, std::move(blob), 1));
                }
            }
            if (k > 0)
                out.levels[k].push_back(PendingPart::of_blocks(PartRole::code_residual, arena.blocks(k * nblocks, nblocks)));
            out.low_separate_bytes +=
                schemes[k]->code_bytes(g) + schemes[k]->scale_bytes(g) + schemes[k]->zero_point_bytes(g);
        }
        out.levels[L].push_back(PendingPart::of_blocks(PartRole::residual, arena.blocks(L * nblocks, nblocks)));
    }
    rec.levels.assign(out.levels.size(), {});  // parts: filled in when written
    return out;
}

PackStats pack_into(const SafetensorsReader& high, const TensorSource* given_low, const PackOptions& options,
                    const std::string& out_path);
}

PackStats pack(const SafetensorsReader& high, const TensorSource* given_low, const PackOptions& options,
               const std::string& out_path) {
    // Refused before any work: an output that cannot be written, or that is one of the
    // model's own files. The file itself is written atomically (FileSink, AtomicFile).
    std::vector<std::string> inputs;
    for (const auto& t : high.tensors())
        if (inputs.empty() || inputs.back() != t.source) inputs.push_back(t.source);
    check_output_path(out_path, inputs);
    return pack_into(high, given_low, options, out_path);
}

namespace {

// The metadata section: the JSON nlohmann::json::dump wrote for it (keys sorted, no
// spaces), assembled as text. Destroying a nested nlohmann::json allocates, and an
// allocation failing there, out of memory, would end the program instead of failing
// the pack.
std::string metadata_text(const std::vector<const LowScheme*>& schemes, const PackOptions& options, bool given_low,
                          const std::map<std::string, std::string>& safetensors_metadata) {
    auto quoted = [](const std::string& s) { return nlohmann::json(s).dump(); };
    std::string t = "{\"generator\":" + quoted(std::string("qstore ") + version_string());
    t += ",\"low_codes\":" + quoted(options.low_raw ? "raw" : "coded");
    if (schemes.size() > 1) {
        t += ",\"low_levels\":[";
        for (size_t k = 0; k < schemes.size(); ++k) t += (k ? "," : "") + quoted(schemes[k]->name());
        t += "]";
    }
    t += ",\"low_scheme\":" + quoted(schemes[0]->name());
    t += ",\"low_source\":" + quoted(given_low ? "given" : "qstore");
    t += ",\"safetensors_metadata\":{";
    bool first = true;
    for (const auto& [k, v] : safetensors_metadata) {
        t += (first ? "" : ",") + quoted(k) + ":" + quoted(v);
        first = false;
    }
    return t + "},\"zstd_level\":" + std::to_string(options.zstd_level) + "}";
}

PackStats pack_into(const SafetensorsReader& high, const TensorSource* given_low, const PackOptions& options,
                    const std::string& out_path) {
    PackStats stats;
    ThreadPool pool(options.threads);
    ResourcePool<EncodeScratch> scratch_pool(
        [&] { return std::make_unique<EncodeScratch>(options.zstd_level); });

    if (options.low.empty() || options.low.size() > kMaxLowLevels)
        fail(Errc::invalid_argument, out_path + ": give one to eight low-precision schemes");
    std::vector<const LowScheme*> schemes;
    for (const auto& spec : options.low) {
        const LowScheme* s = low_scheme(spec);
        if (!s) fail(Errc::invalid_argument, out_path + ": unknown low-precision scheme");
        schemes.push_back(s);
    }
    if (given_low && schemes.size() != 1)
        fail(Errc::invalid_argument, out_path + ": a given low-precision file makes a pair, not a chain");
    const size_t L = schemes.size();  // low levels; level L is the residual to the high precision
    GivenLowMatch given_match;
    if (given_low) given_match = match_given(high, *given_low, options, schemes, stats, out_path);

    FileSink out(out_path, false);
    // Levels 1..L are written to unnamed temporary files and appended after the index,
    // in level order, so that every level's data is a prefix of the file.
    std::vector<std::unique_ptr<FileSink>> upper_sinks;
    for (size_t k = 1; k <= L; ++k) upper_sinks.push_back(std::make_unique<FileSink>(out_path, true));
    const std::vector<uint8_t> zero_header(kHeaderSize, 0);
    out.write(zero_header.data(), zero_header.size());  // patched at the end

    std::vector<SectionWriter> writers;
    writers.push_back(SectionWriter{out, out.position()});
    out.restart_checksum();
    for (auto& sink : upper_sinks) writers.push_back(SectionWriter{*sink, 0});

    PackJob job{high, options, given_low, schemes, pool, scratch_pool, &given_match};
    const auto& tensors = high.tensors();
    std::vector<TensorRecord> records;
    records.reserve(tensors.size());  // regrowing copied every record so far (2731 in maxim)
    auto write_tensor = [&](const SafetensorsTensor& t, EncodedTensor& e) {
        for (size_t k = 0; k < e.levels.size(); ++k)
            for (const PendingPart& part : e.levels[k])
                e.record.levels[k].push_back(writers[k].write_part(part));
        stats.high_bytes += t.size;
        stats.low_separate_bytes += e.low_separate_bytes;
        const bool quantized = e.record.quantized();
        if (quantized) {
            stats.quantized_tensors++;
            stats.quantized_elements += t.num_elements();
        }
        records.push_back(std::move(e.record));
        // Passthrough tensors are written from the mapping: keep RSS at about one tensor
        // per thread, not the whole mapped model (quantized ones are read, not mapped in).
        if (!quantized) high.release(t);
        for (const SafetensorsTensor* x : e.given)
            if (x) given_low->release(*x);
        stats.tensors++;
        if (options.progress) options.progress(records.size(), tensors.size(), t.name);
    };
    // A tensor of one coding block cannot use more than one thread by itself, and models
    // are often thousands of them: runs of consecutive such tensors are encoded side by
    // side, one per thread, and written in file order as they complete (the thread that
    // completes the next one in order writes it and those after it that are ready).
    // Larger tensors are encoded alone, their blocks in parallel. The file is the same
    // for every thread count; what waits to be written is about one tensor per thread.
    auto one_block = [&](const SafetensorsTensor& t) { return one_coding_block(t, options.block_elements); };
    std::mutex commit_mutex;
    std::map<size_t, EncodedTensor> done;  // encoded, waiting for the tensors before them
    size_t next_to_write = 0;
    bool writing = false;
    auto commit = [&](size_t ti, EncodedTensor e) {
        std::unique_lock<std::mutex> lock(commit_mutex);
        done.emplace(ti, std::move(e));
        if (writing) return;  // the thread writing will get to it
        writing = true;
        for (auto it = done.find(next_to_write); it != done.end(); it = done.find(next_to_write)) {
            EncodedTensor next = std::move(it->second);
            done.erase(it);
            lock.unlock();
            write_tensor(tensors[next_to_write], next);
            lock.lock();
            ++next_to_write;
        }
        writing = false;
    };
    for (size_t ti = 0; ti < tensors.size();) {
        size_t end = ti + 1;
        if (one_block(tensors[ti]) && pool.size() > 1)
            while (end < tensors.size() && one_block(tensors[end])) ++end;
        if (end == ti + 1) commit(ti, job.encode(tensors[ti]));
        else pool.parallel_for(end - ti, [&](size_t k) { commit(ti + k, job.encode(tensors[ti + k])); });
        ti = end;
    }
    if (next_to_write != tensors.size()) fail(Errc::internal, out_path + ": a tensor was not written");

    std::vector<SectionEntry> sections;
    {
        SectionEntry e;
        e.kind = static_cast<uint32_t>(SectionKind::level_data);
        e.flags = kSectionRequired;
        e.level = 0;
        e.offset = writers[0].start;
        e.stored_size = e.raw_size = out.position() - writers[0].start;
        e.checksum = out.checksum();
        sections.push_back(e);
    }
    const std::string meta_text = metadata_text(schemes, options, given_low != nullptr, high.metadata());
    sections.push_back(write_small_section(out, SectionKind::metadata,
                                           std::vector<uint8_t>(meta_text.begin(), meta_text.end())));
    sections.push_back(write_small_section(out, SectionKind::tensor_index, serialize_index(records)));

    // Directory: the 3 sections above + levels 1..L. Its own offset is known now, and so
    // is where each upper level will start.
    out.pad_to(kAlignment);
    const uint64_t directory_offset = out.position();
    const size_t directory_count = sections.size() + L;
    uint64_t next = align_up(directory_offset + directory_size(directory_count), kAlignment);
    const uint64_t level1_start = next;
    for (size_t k = 1; k <= L; ++k) {
        SectionEntry e;
        e.kind = static_cast<uint32_t>(SectionKind::level_data);
        e.flags = kSectionRequired;
        e.level = static_cast<uint32_t>(k);
        e.offset = next;
        e.stored_size = e.raw_size = upper_sinks[k - 1]->position();
        e.checksum = upper_sinks[k - 1]->checksum();
        sections.push_back(e);
        next = align_up(next + e.stored_size, kAlignment);
    }
    const auto dir = serialize_directory(sections);
    out.write(dir.data(), dir.size());
    for (size_t k = 1; k <= L; ++k) {
        out.pad_to(kAlignment);
        if (out.position() != sections[sections.size() - L + k - 1].offset)
            fail(Errc::internal, out_path + ": section offset mismatch");
        out.append_from(*upper_sinks[k - 1]);
    }

    FileHeader h;
    // Stamped with the lowest format version that can read the file: 1.0 unless a 1.1
    // feature (schemes 6-11, chains, word-rANS residual blocks) or a 1.2 one (word-rANS
    // streams) is used.
    h.minor = job.minor.load();
    h.file_size = out.position();
    h.directory_offset = directory_offset;
    h.directory_count = static_cast<uint32_t>(directory_count);
    h.low_prefix_end = level1_start;
    const auto header = serialize_header(h);
    out.write_at(0, header.data(), header.size());
    out.close();
    stats.file_size = h.file_size;
    stats.low_prefix_end = h.low_prefix_end;
    return stats;
}

}  // namespace

}  // namespace qstore
