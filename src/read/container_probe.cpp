#include "read/container_probe.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "container/format.hpp"
#include "io/gguf_header.hpp"

namespace qstore {

namespace {

constexpr uint64_t kFetchWindow = 64u << 10;        // a GGUF header is read in windows of this size
constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;  // as safetensors readers allow

// Checks that `offset` leaves room for a qstore header inside the file (the caller
// checks its magic when it reads it).
QstoreLocation checked(const ByteSource& file, ContainerKind kind, uint64_t offset, uint64_t not_before) {
    const std::string what = file.name() + ": " + container_name(kind) + " container: " + kContainerOffsetKey + " " +
                             std::to_string(offset);
    if (offset < not_before)
        fail(Errc::corrupt, what + " lies before the end of the " + container_name(kind) + " tensor data (" +
                                std::to_string(not_before) + ")");
    if (offset > file.size() || file.size() - offset < kHeaderSize)
        fail(Errc::truncated, what + ": truncated, or a damaged key: the file (" + std::to_string(file.size()) +
                                  " bytes) ends before the end of the qstore header");
    return QstoreLocation{kind, offset};
}

QstoreLocation locate_in_gguf(const ByteSource& file) {
    std::vector<uint8_t> window;
    uint64_t window_begin = 0;
    const GgufFetch fetch = [&](uint64_t offset, uint8_t* dst, size_t n) {
        if (offset < window_begin || offset + n > window_begin + window.size()) {
            window_begin = offset;
            const uint64_t wanted = std::max<uint64_t>(n, kFetchWindow);
            window.resize(static_cast<size_t>(std::min<uint64_t>(wanted, file.size() - offset)));
            file.read_at(offset, window.data(), window.size());
        }
        std::memcpy(dst, window.data() + (offset - window_begin), n);
    };
    GgufHeader h;
    try {
        h = parse_gguf_header(file.size(), fetch, file.name());
    } catch (const Error& e) {  // a GGUF file is not qstore's business, unless it names a qstore header
        fail(Errc::not_qstore, file.name() + ": not a qstore file or container (" + e.what() + ")");
    }
    for (const GgufKV& kv : h.kvs) {
        if (kv.key != kContainerOffsetKey) continue;
        if (kv.type != kGgufU64)
            fail(Errc::corrupt, file.name() + ": gguf container: " + kContainerOffsetKey + " is not a u64");
        return checked(file, ContainerKind::gguf, load_le(kv.values.data(), 8), h.data_offset);
    }
    fail(Errc::not_qstore, file.name() + ": not a qstore container (a GGUF file without the " +
                               kContainerOffsetKey + " key)");
}

uint64_t decimal(const std::string& s, const std::string& what) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
        fail(Errc::corrupt, what + " is not a decimal number");
    return std::stoull(s);
}

QstoreLocation locate_in_safetensors(const ByteSource& file, uint64_t header_length) {
    const std::string what = file.name() + ": safetensors container";
    std::vector<uint8_t> text(static_cast<size_t>(header_length));
    file.read_at(8, text.data(), text.size());
    const nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (!doc.is_object())
        fail(Errc::not_qstore, file.name() + ": not a qstore file or container (a safetensors-like header that is "
                                             "not a JSON object)");
    const auto meta = doc.find("__metadata__");
    const bool has_key = meta != doc.end() && meta->is_object() && meta->contains(kContainerOffsetKey);
    if (!has_key)
        fail(Errc::not_qstore, file.name() + ": not a qstore container (a safetensors file without the " +
                                   kContainerOffsetKey + " metadata)");
    const nlohmann::json& value = meta->at(kContainerOffsetKey);
    if (!value.is_string()) fail(Errc::corrupt, what + ": " + kContainerOffsetKey + " is not a string");
    const uint64_t offset = decimal(value.get<std::string>(), what + ": " + kContainerOffsetKey);
    const uint64_t data_start = 8 + header_length;
    const QstoreLocation location = checked(file, ContainerKind::safetensors, offset, data_start);
    // The trailing tensor starts at the qstore header.
    const auto t = doc.find(kContainerTensor);
    bool starts_there = false;
    if (t != doc.end() && t->is_object() && t->contains("data_offsets") && t->at("data_offsets").is_array() &&
        t->at("data_offsets").size() == 2 && t->at("data_offsets")[0].is_number_unsigned())
        starts_there = t->at("data_offsets")[0].get<uint64_t>() == offset - std::min(offset, data_start) &&
                       offset >= data_start;
    if (!starts_there)
        fail(Errc::corrupt, what + ": tensor " + kContainerTensor + " does not start at " + kContainerOffsetKey);
    return location;
}

}  // namespace

void container_magic_error(const std::string& path, const QstoreLocation& where) {
    fail(Errc::corrupt, path + ": " + container_name(where.kind) + " container: " + kContainerOffsetKey + " " +
                            std::to_string(where.header_offset) + " does not point at a qstore header");
}

QstoreLocation locate_qstore_header(const ByteSource& file, const uint8_t* first) {
    if (file.size() < 9) return {};
    if (std::memcmp(first, kMagic, 8) == 0) return {};
    if (load_le(first, 4) == kGgufMagic) return locate_in_gguf(file);
    const uint64_t header_length = load_le(first, 8);
    if (first[8] == '{' && header_length >= 2 && header_length <= file.size() - 8 &&
        header_length <= kMaxSafetensorsHeader)
        return locate_in_safetensors(file, header_length);
    return {};
}

}  // namespace qstore
