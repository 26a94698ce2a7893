// libFuzzer target: one GGUF file (the input, as it is) through GgufReader as a given
// low precision (header, key/value pairs, tensor infos, every available tensor's
// bytes) and as a model to pack (GgufUse::model): its gguf_layout section serialized,
// parsed back (must give the same header bytes and key/values), walked (gaps and
// tensors must cover the data section), and retyped as llama-quantize would write it.
// See README.md.
#include "fuzz_common.hpp"
#include "io/gguf.hpp"
#include "io/gguf_layout.hpp"
#include "io/gguf_retype.hpp"

namespace {

void low_source(const std::string& path, size_t size) {
    qstore::GgufReader r(path);
    (void)r.version();
    (void)r.alignment();
    if (r.data_offset() > size + r.alignment()) abort();  // past the padding after the infos
    for (const qstore::GgufKV& kv : r.metadata()) {
        if (r.kv(kv.key) == nullptr) abort();
        qs_fuzz::touch(reinterpret_cast<const uint8_t*>(kv.text.data()), kv.text.size());
    }
    for (const qstore::GgufTensorInfo& info : r.infos()) {
        (void)qstore::ggml_type_name(info.type);
        qs_fuzz::guarded([&] { (void)qstore::ggml_tensor_bytes(info.type, info.ne); });
        if (r.available(info) != (r.find(info.name) != nullptr)) {
            // a name listed twice is refused, so find() answers for this info
            fprintf(stderr, "tensor '%s': available %d but find() disagrees\n", info.name.c_str(), r.available(info));
            abort();
        }
    }
    uint64_t budget = uint64_t{16} << 20;
    for (const qstore::SafetensorsTensor& t : r.tensors()) {
        if (t.size > budget) continue;
        budget -= t.size;
        std::vector<uint8_t> bytes(t.size);
        r.read(t, bytes.data());  // what pack reads: pread, not the mapping
        qs_fuzz::touch(bytes.data(), bytes.size());
    }
}

void model(const std::string& path, size_t size) {
    qstore::GgufReader r(path, qstore::GgufUse::model);
    if (r.tensors().size() != r.infos().size()) abort();  // every tensor of a model is available
    const std::vector<uint8_t> section = qstore::serialize_gguf_layout(r);
    const qstore::GgufLayout l = qstore::parse_gguf_layout(section.data(), section.size(), "section");
    if (l.header_bytes.size() != r.data_offset() || l.header.kvs.size() != r.metadata().size()) abort();
    for (size_t i = 0; i < l.header.kvs.size(); ++i)
        if (l.header.kvs[i].values != r.metadata()[i].values || l.header.kvs[i].strings != r.metadata()[i].strings)
            abort();
    uint64_t covered = 0;
    qstore::walk_gguf_data(
        l, "walk", [&](const uint8_t*, size_t n) { covered += n; },
        [&](const qstore::GgufTensorInfo& t) { covered += t.size; });
    if (r.data_offset() <= size && covered != size - r.data_offset()) abort();
    // Every float matrix as Q8_0, as an unpack of a q8_0 level would write it.
    std::vector<uint32_t> types;
    for (const auto& info : l.header.infos)
        types.push_back(info.type <= 1 && info.ne.size() >= 2 && info.ne[0] % 32 == 0 ? 8 : info.type);
    qs_fuzz::guarded([&] {
        const qstore::RetypedGguf g = qstore::retype_gguf(l, types, qstore::LlamaFileType::mostly_q8_0, "retype");
        qs_fuzz::touch(g.header.data(), g.header.size());
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = qs_fuzz::write_file("in.gguf", data, size);
    (void)qstore::is_gguf_file(path);
    qs_fuzz::guarded([&] { low_source(path, size); });
    qs_fuzz::guarded([&] { model(path, size); });
    return 0;
}
