// Small C-API conveniences shared by the Catch2 tests: an owning handle, loads into
// vectors, and a one-call "pack this model" helper.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "pack/packer.hpp"
#include "qstore/qstore.h"

namespace qs_test {

struct FileCloser {
    void operator()(qs_file* f) const { qs_close(f); }
};
using FilePtr = std::unique_ptr<qs_file, FileCloser>;

inline FilePtr open_qs(const std::string& path, qs_status* status = nullptr, unsigned threads = 1,
                       int verify_checksums = 1) {
    qs_open_options o = qs_open_options_default();
    o.num_threads = threads;
    o.verify_checksums = verify_checksums;
    qs_file* f = nullptr;
    qs_status s = qs_open_ex(path.c_str(), &o, &f);
    if (status) *status = s;
    return FilePtr(f);
}

inline qs_tensor_info tensor_info(qs_file* f, size_t i, qs_status* status = nullptr) {
    qs_tensor_info info{};
    info.struct_size = sizeof(info);
    qs_status s = qs_tensor_info_get(f, i, &info);
    if (status) *status = s;
    return info;
}

struct LowData {
    std::vector<uint8_t> codes;
    std::vector<uint8_t> scales;  // raw float32 bytes
};

inline qs_status load_low(qs_file* f, size_t i, LowData& out) {
    qs_tensor_info info = tensor_info(f, i);
    out.codes.assign(info.low_code_bytes, 0xCD);
    out.scales.assign(info.low_scale_bytes, 0xCD);
    return qs_load_low(f, i, out.codes.empty() ? nullptr : out.codes.data(), out.codes.size(),
                       out.scales.empty() ? nullptr : out.scales.data(), out.scales.size());
}

inline qs_status load_high(qs_file* f, size_t i, std::vector<uint8_t>& out) {
    qs_tensor_info info = tensor_info(f, i);
    out.assign(info.high_bytes, 0xCD);
    return qs_load_high(f, i, out.empty() ? nullptr : out.data(), out.size());
}

// One precision level in its native layout (qs_load_level).
struct LevelBytes {
    std::vector<uint8_t> codes, scales, zero_points;
};

inline qs_level_info level_info(qs_file* f, size_t i, uint32_t level, qs_status* status = nullptr) {
    qs_level_info li{};
    li.struct_size = sizeof(li);
    qs_status s = qs_level_info_get(f, i, level, &li);
    if (status) *status = s;
    return li;
}

// Level `level` of tensor i, buffers sized by qs_level_info_get (filled with 0xCD first,
// so bytes the library fails to write show).
inline qs_status load_level_bytes(qs_file* f, size_t i, uint32_t level, LevelBytes& out) {
    qs_status s;
    const qs_level_info li = level_info(f, i, level, &s);
    if (s != QS_OK) return s;
    out.codes.assign(li.code_bytes, 0xCD);
    out.scales.assign(li.scale_bytes, 0xCD);
    out.zero_points.assign(li.zero_point_bytes, 0xCD);
    return qs_load_level(f, i, level, out.codes.empty() ? nullptr : out.codes.data(), out.codes.size(),
                         out.scales.empty() ? nullptr : out.scales.data(), out.scales.size(),
                         out.zero_points.empty() ? nullptr : out.zero_points.data(), out.zero_points.size());
}

inline std::vector<uint8_t> as_bytes(const std::vector<int8_t>& v) {
    return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(v.data()),
                                reinterpret_cast<const uint8_t*>(v.data()) + v.size());
}
inline std::vector<uint8_t> as_bytes(const std::vector<float>& v) {
    return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(v.data()),
                                reinterpret_cast<const uint8_t*>(v.data()) + v.size() * 4);
}

// Writes `model` as safetensors into dir and packs it with the core packer.
inline qstore::PackStats pack_model(const TempDir& dir, const std::vector<Tensor>& model, const std::string& qs_name,
                                    qstore::PackOptions options, const std::vector<Tensor>* given_low = nullptr,
                                    const std::map<std::string, std::string>& metadata = {}) {
    const std::string st = dir.file(qs_name + ".high.safetensors");
    write_safetensors(st, model, metadata);
    qstore::SafetensorsReader high(st);
    std::unique_ptr<qstore::SafetensorsReader> low;
    if (given_low) {
        const std::string lt = dir.file(qs_name + ".low.safetensors");
        write_safetensors(lt, *given_low);
        low = std::make_unique<qstore::SafetensorsReader>(lt);
    }
    return qstore::pack(high, low.get(), options, dir.file(qs_name));
}

inline std::string cli_path() {
#ifdef QSTORE_CLI_PATH
    return QSTORE_CLI_PATH;
#else
    return "";
#endif
}

}  // namespace qs_test
