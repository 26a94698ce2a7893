#include "read/gguf_export.hpp"

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "io/file_sink.hpp"
#include "io/gguf_retype.hpp"
#include "schemes/scheme.hpp"

namespace qstore {

namespace {

// The index's tensor of a GGUF tensor info; every tensor of the index must have one.
size_t tensor_of(const Reader& r, const GgufTensorInfo& info) {
    const size_t i = r.find(info.name);
    if (i == SIZE_MAX)
        fail(Errc::corrupt, r.path() + ": gguf_layout names tensor '" + info.name + "', which the index lacks");
    return i;
}

void check_counts(const Reader& r, const GgufLayout& l) {
    if (l.header.infos.size() != r.tensor_count())
        fail(Errc::corrupt, r.path() + ": gguf_layout lists " + std::to_string(l.header.infos.size()) +
                                " tensors, the index " + std::to_string(r.tensor_count()));
}

// The ggml type of a tensor at low level `level`: Q8_0 / Q4_0 for those codes, its
// original type if it is not quantized.
uint32_t low_type(const Reader& r, const GgufTensorInfo& info, size_t level) {
    const TensorRecord& t = r.tensor(tensor_of(r, info));
    if (!t.quantized()) return info.type;
    const SchemeId id = t.scheme(level).id();
    if (id == SchemeId::q8_0) return static_cast<uint32_t>(GgmlType::q8_0);
    if (id == SchemeId::q4_0) return static_cast<uint32_t>(GgmlType::q4_0);
    fail(Errc::unsupported, r.path() + ": tensor '" + info.name + "': scheme " + t.scheme(level).name() +
                                " has no ggml type a runtime loads; pack with --low q8_0 or --low q4_0, or "
                                "unpack to .safetensors");
}

// The level each tensor info is written from: `level`, except, with llama_mix, the
// output tensor (see export_gguf_low).
std::vector<size_t> source_levels(const Reader& r, const GgufLayout& l, size_t level, bool llama_mix) {
    std::vector<size_t> levels(l.header.infos.size(), level);
    if (!llama_mix) return levels;
    size_t out = SIZE_MAX;
    for (size_t k = 0; k < l.header.infos.size(); ++k) {
        const std::string& name = l.header.infos[k].name;
        if (name == "output.weight" || (name == "token_embd.weight" && out == SIZE_MAX)) out = k;
    }
    const std::string none = r.path() + ": --llama-mix: ";
    if (out == SIZE_MAX) fail(Errc::invalid_argument, none + "no output.weight or token_embd.weight");
    const TensorRecord& t = r.tensor(tensor_of(r, l.header.infos[out]));
    if (!t.quantized() || t.scheme(level).id() != SchemeId::q4_0) return levels;
    for (size_t k = level + 1; k < t.top_level(); ++k)
        if (t.scheme(k).id() == SchemeId::q8_0) {
            levels[out] = k;
            return levels;
        }
    fail(Errc::invalid_argument, none + "'" + t.name + "' has no q8_0 level above level " + std::to_string(level) +
                                     " (pack with --low q8_0 --low q4_0)");
}

// With --llama-mix: an F32 matrix no Q8_0/Q4_0 block fits, which llama-quantize writes F16.
bool f16_fallback(const TensorRecord& t, const GgufTensorInfo& info) {
    return !t.quantized() && info.type == static_cast<uint32_t>(GgmlType::f32) && info.ne.size() >= 2 &&
           info.ne[0] % 32 != 0;
}

void narrow_to_f16(std::vector<uint8_t>& bytes) {
    const size_t n = bytes.size() / 4;
    for (size_t i = 0; i < n; ++i) {
        const uint16_t h = f16_from_f32(f32_from_bits(static_cast<uint32_t>(load_le(bytes.data() + 4 * i, 4))));
        bytes[2 * i] = static_cast<uint8_t>(h);
        bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    bytes.resize(2 * n);
}

}  // namespace

void export_gguf_high(const Reader& r, const std::string& output, const GgufExportProgress& progress) {
    const GgufLayout& l = *r.gguf_layout();
    check_counts(r, l);
    FileSink out(output, false);
    out.write(l.header_bytes.data(), l.header_bytes.size());
    std::vector<uint8_t> bytes;
    size_t done = 0;
    walk_gguf_data(
        l, r.path() + ": gguf_layout", [&](const uint8_t* p, size_t n) { out.write(p, n); },
        [&](const GgufTensorInfo& info) {
            const size_t i = tensor_of(r, info);
            if (r.high_bytes(r.tensor(i)) != info.size)
                fail(Errc::corrupt, r.path() + ": tensor '" + info.name + "': " + std::to_string(r.high_bytes(r.tensor(i))) +
                                        " bytes, its GGUF tensor info says " + std::to_string(info.size));
            bytes.resize(info.size);
            r.load_high(i, bytes.data(), bytes.size());
            out.write(bytes.data(), bytes.size());
            if (progress) progress(++done, l.header.infos.size(), info.name);
        });
    out.close();
}

void export_gguf_low(const Reader& r, size_t level, const std::string& output, const GgufExportProgress& progress,
                     bool llama_mix) {
    const GgufLayout& l = *r.gguf_layout();
    check_counts(r, l);
    const std::vector<size_t> levels = source_levels(r, l, level, llama_mix);
    std::vector<uint32_t> types;
    std::vector<bool> to_f16;
    for (size_t k = 0; k < l.header.infos.size(); ++k) {
        const GgufTensorInfo& info = l.header.infos[k];
        to_f16.push_back(llama_mix && f16_fallback(r.tensor(tensor_of(r, info)), info));
        types.push_back(to_f16.back() ? static_cast<uint32_t>(GgmlType::f16) : low_type(r, info, levels[k]));
    }
    const RetypedGguf g = retype_gguf(l, types, llama_file_type(l, types), output);
    FileSink out(output, false);
    out.write(g.header.data(), g.header.size());
    std::vector<uint8_t> bytes;
    for (size_t k = 0; k < l.header.infos.size(); ++k) {
        const GgufTensorInfo& info = l.header.infos[k];
        const size_t i = tensor_of(r, info);
        const TensorRecord& t = r.tensor(i);
        const uint64_t size = t.quantized() ? r.level_code_bytes(t, levels[k]) : r.high_bytes(t);
        if (size != (to_f16[k] ? 2 * g.sizes[k] : g.sizes[k]))
            fail(Errc::corrupt, r.path() + ": tensor '" + info.name + "': " + std::to_string(size) +
                                    " bytes at this level, its GGUF type needs " + std::to_string(g.sizes[k]));
        bytes.resize(size);
        if (t.quantized()) r.load_level(i, levels[k], bytes.data(), bytes.size(), nullptr, 0, nullptr, 0);
        else r.load_low(i, bytes.data(), bytes.size(), nullptr, 0);
        if (to_f16[k]) narrow_to_f16(bytes);
        out.pad_to(g.alignment);  // the data section starts aligned: positions are file offsets
        out.write(bytes.data(), bytes.size());
        if (progress) progress(k + 1, l.header.infos.size(), info.name);
    }
    out.pad_to(g.alignment);
    out.close();
}

}  // namespace qstore
