#include "packer.hpp"

#include <fnmatch.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "low_layout.hpp"
#include "checksum.hpp"
#include "error.hpp"
#include "file_sink.hpp"
#include "float_bits.hpp"
#include "format.hpp"
#include "low_scheme.hpp"
#include "residual_codec.hpp"
#include "stream_set.hpp"
#include "thread_pool.hpp"
#include "version.hpp"

namespace qstore {

namespace {

struct EncodeScratch {
    explicit EncodeScratch(int level) : encoder(level) {}
    StreamEncoder encoder;
    std::vector<float> prediction;
    std::vector<uint8_t> context;
};

// One level's section being written: where it starts and its running checksum.
struct SectionWriter {
    FileSink& sink;
    uint64_t start;
    PartRef write_part(PartRole role, PartEncoding enc, const void* data, uint64_t size, uint64_t align) {
        sink.pad_to(align);
        PartRef p;
        p.role = role;
        p.encoding = enc;
        p.offset = sink.position() - start;
        p.size = size;
        p.checksum = checksum(data, size);
        sink.write(data, size);
        return p;
    }
};

bool excluded(const std::string& name, const std::vector<std::string>& patterns) {
    for (const auto& p : patterns)
        if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
    return false;
}

bool should_quantize(const SafetensorsTensor& t, const PackOptions& o) {
    return dtype_is_quantizable(t.dtype) && t.shape.size() >= 2 && t.num_elements() > 0 && !excluded(t.name, o.exclude);
}

std::vector<uint8_t> zstd_frame(const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 19);
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

}  // namespace

namespace {
PackStats pack_into(const SafetensorsReader& high, const SafetensorsReader* given_low, const PackOptions& options,
                    const std::string& out_path);
}

PackStats pack(const SafetensorsReader& high, const SafetensorsReader* given_low, const PackOptions& options,
               const std::string& out_path) {
    // Written under a temporary name and renamed when complete: a failed or interrupted
    // pack never leaves a partial .qs file behind (nor replaces a good one).
    const std::string partial = out_path + ".partial";
    try {
        PackStats stats = pack_into(high, given_low, options, partial);
        if (std::rename(partial.c_str(), out_path.c_str()) != 0)
            fail(Errc::io, out_path + ": cannot rename " + partial + ": " + std::strerror(errno));
        return stats;
    } catch (...) {
        std::remove(partial.c_str());
        throw;
    }
}

namespace {

PackStats pack_into(const SafetensorsReader& high, const SafetensorsReader* given_low, const PackOptions& options,
                    const std::string& out_path) {
    PackStats stats;
    ThreadPool pool(options.threads);
    ResourcePool<EncodeScratch> scratch_pool(
        [&] { return std::make_unique<EncodeScratch>(options.zstd_level); });

    FileSink out(out_path, false);
    FileSink residual_tmp(out_path, true);
    const std::vector<uint8_t> zero_header(kHeaderSize, 0);
    out.write(zero_header.data(), zero_header.size());  // patched at the end

    SectionWriter level0{out, out.position()};
    out.restart_checksum();
    SectionWriter level1{residual_tmp, 0};

    const LowScheme* scheme_ptr = low_scheme(options.scheme);
    if (!scheme_ptr) fail(Errc::invalid_argument, out_path + ": unknown low-precision scheme");
    const LowScheme& scheme = *scheme_ptr;
    const uint64_t low_align = options.low_raw ? kAlignment : 1;
    std::vector<TensorRecord> records;
    const auto& tensors = high.tensors();
    for (size_t ti = 0; ti < tensors.size(); ++ti) {
        const SafetensorsTensor& t = tensors[ti];
        const std::string what = t.source + ": tensor '" + t.name + "'";
        TensorRecord rec;
        rec.name = t.name;
        rec.high_dtype = t.dtype;
        rec.shape = t.shape;
        stats.high_bytes += t.size;

        const SafetensorsTensor* low_codes = nullptr;
        const SafetensorsTensor* low_scales = nullptr;
        bool quantize = should_quantize(t, options);
        if (quantize && given_low) {
            low_codes = given_low->find(t.name);
            low_scales = given_low->find(low_scale_name(scheme, t.name));
            if (!low_codes || low_codes->dtype != scheme.code_dtype() || !low_scales) {
                quantize = false;  // the low file does not quantize it: kept as it is
                low_codes = low_scales = nullptr;
            }
        }
        if (!quantize) {
            rec.scheme = SchemeId::passthrough;
            rec.levels.resize(1);
            // Always aligned: passthrough bytes can then be viewed in place (qs_view_low).
            rec.levels[0].push_back(level0.write_part(PartRole::data, PartEncoding::raw, t.data, t.size, kAlignment));
            stats.low_separate_bytes += t.size;
        } else {
            rec.scheme = scheme.id();
            const Geometry g = rec.geometry();
            std::vector<uint8_t> codes(scheme.code_bytes(g));
            std::vector<float> scales(scheme.scale_count(g));
            const LowTensorData low{codes.data(), scales.data(), nullptr};
            if (low_codes) {
                if (low_codes->shape != t.shape)
                    fail(Errc::invalid_argument, what + ": low codes have a different shape than the high tensor");
                if (low_scales->dtype != DType::f32 || low_scales->num_elements() != scales.size())
                    fail(Errc::invalid_argument, what + ": scales '" + low_scales->name + "' must be F32 with " +
                                                     std::to_string(scales.size()) + " values");
                std::memcpy(codes.data(), low_codes->data, codes.size());
                std::memcpy(scales.data(), low_scales->data, scales.size() * 4);
            }
            if (!low_codes) scheme.prepare(t.data, t.dtype, g, low);
            const uint64_t rpb = std::max<uint64_t>(1, options.block_elements / g.cols);
            const uint64_t nblocks = (g.rows + rpb - 1) / rpb;
            rec.rows_per_block = rpb;
            std::vector<std::vector<uint8_t>> code_blocks(options.low_raw ? 0 : nblocks);
            std::vector<std::vector<uint8_t>> residual_blocks(nblocks);
            pool.parallel_for(nblocks, [&](size_t b) {
                const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
                if (!low_codes) scheme.quantize(t.data, t.dtype, g, r0, r1, low);
                auto s = scratch_pool.acquire();
                const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
                if (!options.low_raw) s->encoder.encode({{codes.data() + first, n}}, code_blocks[b]);
                s->prediction.resize(n);
                s->context.resize(n);
                scheme.predict(low.view(), g, first, n, s->prediction.data(), s->context.data());
                encode_residual_block(t.data + first * dtype_size(t.dtype), t.dtype, s->prediction.data(),
                                      s->context.data(), n, residual_blocks[b]);
            });
            rec.levels.resize(2);
            if (options.low_raw) {
                rec.levels[0].push_back(
                    level0.write_part(PartRole::codes, PartEncoding::raw, codes.data(), codes.size(), low_align));
            } else {
                std::vector<uint8_t> blob;
                append_block_container(code_blocks, blob);
                rec.levels[0].push_back(
                    level0.write_part(PartRole::codes, PartEncoding::blocks, blob.data(), blob.size(), 1));
            }
            if (options.low_raw) {
                rec.levels[0].push_back(
                    level0.write_part(PartRole::scales, PartEncoding::raw, scales.data(), scales.size() * 4, low_align));
            } else {
                // Row absmax scales of BF16/F16 weights have many zero low bytes: code each byte plane alone.
                std::vector<uint8_t> planes(scales.size() * 4);
                for (size_t k = 0; k < scales.size(); ++k)
                    for (int b = 0; b < 4; ++b) planes[b * scales.size() + k] = static_cast<uint8_t>(f32_bits(scales[k]) >> (8 * b));
                std::vector<std::pair<const uint8_t*, size_t>> streams;
                for (int b = 0; b < 4; ++b) streams.emplace_back(planes.data() + b * scales.size(), scales.size());
                std::vector<uint8_t> blob;
                scratch_pool.acquire()->encoder.encode(streams, blob);
                rec.levels[0].push_back(level0.write_part(PartRole::scales, PartEncoding::byte_planes, blob.data(), blob.size(), 1));
            }
            std::vector<uint8_t> blob;
            append_block_container(residual_blocks, blob);
            rec.levels[1].push_back(level1.write_part(PartRole::residual, PartEncoding::blocks, blob.data(), blob.size(), 1));
            stats.quantized_tensors++;
            stats.quantized_elements += g.elements();
            stats.low_separate_bytes += codes.size() + scales.size() * 4;
        }
        records.push_back(std::move(rec));
        high.release(t);  // keep RSS at about one tensor, not the whole mapped model
        if (low_codes) {
            given_low->release(*low_codes);
            given_low->release(*low_scales);
        }
        stats.tensors++;
        if (options.progress) options.progress(ti + 1, tensors.size(), t.name);
    }

    std::vector<SectionEntry> sections;
    {
        SectionEntry e;
        e.kind = static_cast<uint32_t>(SectionKind::level_data);
        e.flags = kSectionRequired;
        e.level = 0;
        e.offset = level0.start;
        e.stored_size = e.raw_size = out.position() - level0.start;
        e.checksum = out.checksum();
        sections.push_back(e);
    }
    nlohmann::json meta = {{"generator", std::string("qstore ") + version_string()},
                           {"low_codes", options.low_raw ? "raw" : "coded"},
                           {"low_source", given_low ? "given" : "qstore"},
                           {"low_scheme", scheme.name()},
                           {"zstd_level", options.zstd_level}};
    meta["safetensors_metadata"] = nlohmann::json::object();
    for (const auto& [k, v] : high.metadata()) meta["safetensors_metadata"][k] = v;
    std::string meta_text = meta.dump();
    sections.push_back(write_small_section(out, SectionKind::metadata,
                                           std::vector<uint8_t>(meta_text.begin(), meta_text.end())));
    sections.push_back(write_small_section(out, SectionKind::tensor_index, serialize_index(records)));

    // Directory: 3 sections above + the residual level. Its own offset is known now.
    out.pad_to(kAlignment);
    const uint64_t directory_offset = out.position();
    const size_t directory_count = sections.size() + 1;
    const uint64_t level1_start = align_up(directory_offset + directory_size(directory_count), kAlignment);
    {
        SectionEntry e;
        e.kind = static_cast<uint32_t>(SectionKind::level_data);
        e.flags = kSectionRequired;
        e.level = 1;
        e.offset = level1_start;
        e.stored_size = e.raw_size = residual_tmp.position();
        e.checksum = residual_tmp.checksum();
        sections.push_back(e);
    }
    const auto dir = serialize_directory(sections);
    out.write(dir.data(), dir.size());
    out.pad_to(kAlignment);
    if (out.position() != level1_start) fail(Errc::internal, out_path + ": directory size mismatch");
    out.append_from(residual_tmp);

    FileHeader h;
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
