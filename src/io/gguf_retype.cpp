#include "io/gguf_retype.hpp"

#include <map>

#include "base/byte_io.hpp"
#include "base/error.hpp"

namespace qstore {

namespace {

uint64_t align_up_to(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put_u64(out, s.size());
    put_bytes(out, s.data(), s.size());
}

void put_u32_kv(std::vector<uint8_t>& out, const std::string& key, uint32_t value) {
    put_string(out, key);
    put_u32(out, kGgufU32);
    put_u32(out, value);
}

}  // namespace

void GgufExtraKeys::add_u64(const std::string& key, uint64_t value) {
    put_string(bytes, key);
    put_u32(bytes, kGgufU64);
    put_u64(bytes, value);
    ++count;
}

void GgufExtraKeys::add_string(const std::string& key, const std::string& value) {
    put_string(bytes, key);
    put_u32(bytes, kGgufString);
    put_string(bytes, value);
    ++count;
}

LlamaFileType llama_file_type(const GgufLayout& layout, const std::vector<uint32_t>& types) {
    std::map<uint32_t, size_t> changed;
    for (size_t i = 0; i < types.size() && i < layout.header.infos.size(); ++i)
        if (types[i] != layout.header.infos[i].type) changed[types[i]]++;
    uint32_t most = static_cast<uint32_t>(GgmlType::q8_0);
    size_t n = 0;
    for (const auto& [type, count] : changed)
        if (count > n) most = type, n = count;
    return most == static_cast<uint32_t>(GgmlType::q4_0) ? LlamaFileType::mostly_q4_0 : LlamaFileType::mostly_q8_0;
}

RetypedGguf retype_gguf(const GgufLayout& layout, const std::vector<uint32_t>& types, LlamaFileType file_type,
                        const std::string& what, const GgufExtraKeys& extra) {
    const GgufHeader& h = layout.header;
    if (types.size() != h.infos.size()) fail(Errc::internal, what + ": one ggml type per tensor expected");
    RetypedGguf out;
    out.alignment = h.alignment;
    std::vector<uint8_t>& b = out.header;
    static const char* kQuantVersion = "general.quantization_version";
    static const char* kFileType = "general.file_type";
    uint64_t kept = 0;
    for (const GgufKV& kv : h.kvs) kept += kv.key != kQuantVersion && kv.key != kFileType;
    put_u32(b, kGgufMagic);
    put_u32(b, 3);
    put_u64(b, h.infos.size());
    put_u64(b, kept + 2 + extra.count);
    for (const GgufKV& kv : h.kvs)
        if (kv.key != kQuantVersion && kv.key != kFileType)
            put_bytes(b, layout.header_bytes.data() + kv.begin, static_cast<size_t>(kv.end - kv.begin));
    put_u32_kv(b, kQuantVersion, kGgmlQuantizationVersion);
    put_u32_kv(b, kFileType, static_cast<uint32_t>(file_type));
    put_bytes(b, extra.bytes.data(), extra.bytes.size());
    uint64_t offset = 0;
    for (size_t i = 0; i < h.infos.size(); ++i) {
        const GgufTensorInfo& t = h.infos[i];
        const uint64_t size = with_context(what + ": tensor '" + t.name + "' as " + ggml_type_name(types[i]) + ": ",
                                           [&] { return ggml_tensor_bytes(types[i], t.ne); });
        put_string(b, t.name);
        put_u32(b, static_cast<uint32_t>(t.ne.size()));
        for (uint64_t d : t.ne) put_u64(b, d);
        put_u32(b, types[i]);
        put_u64(b, offset);
        out.offsets.push_back(offset);
        out.sizes.push_back(size);
        offset = align_up_to(offset + size, h.alignment);
    }
    b.resize(static_cast<size_t>(align_up_to(b.size(), h.alignment)), 0);
    return out;
}

}  // namespace qstore
