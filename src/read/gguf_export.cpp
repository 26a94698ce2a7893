#include "read/gguf_export.hpp"

#include <map>

#include "base/error.hpp"
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

// llama-quantize's file type for the scheme most tensors of the level use.
LlamaFileType file_type_of(const std::vector<uint32_t>& types, const GgufLayout& l) {
    std::map<uint32_t, size_t> changed;
    for (size_t i = 0; i < types.size(); ++i)
        if (types[i] != l.header.infos[i].type) changed[types[i]]++;
    uint32_t most = static_cast<uint32_t>(GgmlType::q8_0);
    size_t n = 0;
    for (const auto& [type, count] : changed)
        if (count > n) most = type, n = count;
    return most == static_cast<uint32_t>(GgmlType::q4_0) ? LlamaFileType::mostly_q4_0 : LlamaFileType::mostly_q8_0;
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

void export_gguf_low(const Reader& r, size_t level, const std::string& output, const GgufExportProgress& progress) {
    const GgufLayout& l = *r.gguf_layout();
    check_counts(r, l);
    std::vector<uint32_t> types;
    for (const GgufTensorInfo& info : l.header.infos) types.push_back(low_type(r, info, level));
    const RetypedGguf g = retype_gguf(l, types, file_type_of(types, l), output);
    FileSink out(output, false);
    out.write(g.header.data(), g.header.size());
    std::vector<uint8_t> bytes;
    for (size_t k = 0; k < l.header.infos.size(); ++k) {
        const GgufTensorInfo& info = l.header.infos[k];
        const size_t i = tensor_of(r, info);
        const TensorRecord& t = r.tensor(i);
        const uint64_t size = t.quantized() ? r.level_code_bytes(t, level) : r.high_bytes(t);
        if (size != g.sizes[k])
            fail(Errc::corrupt, r.path() + ": tensor '" + info.name + "': " + std::to_string(size) +
                                    " bytes at this level, its GGUF type needs " + std::to_string(g.sizes[k]));
        bytes.resize(size);
        if (t.quantized()) r.load_level(i, level, bytes.data(), bytes.size(), nullptr, 0, nullptr, 0);
        else r.load_low(i, bytes.data(), bytes.size(), nullptr, 0);
        out.pad_to(g.alignment);  // the data section starts aligned: positions are file offsets
        out.write(bytes.data(), bytes.size());
        if (progress) progress(k + 1, l.header.infos.size(), info.name);
    }
    out.pad_to(g.alignment);
    out.close();
}

}  // namespace qstore
