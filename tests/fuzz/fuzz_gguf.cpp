// libFuzzer target: one GGUF file (the input, as it is) through GgufReader: header,
// key/value pairs, tensor infos, and every available tensor's bytes. See README.md.
#include "fuzz_common.hpp"
#include "io/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = qs_fuzz::write_file("in.gguf", data, size);
    (void)qstore::is_gguf_file(path);
    qs_fuzz::guarded([&] {
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
    });
    return 0;
}
