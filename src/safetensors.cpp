#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "byte_io.hpp"
#include "error.hpp"
#include "file_sink.hpp"

namespace qstore {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t SafetensorsTensor::num_elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
}

namespace {

uint64_t checked_elements(const std::vector<uint64_t>& shape, const std::string& what) {
    uint64_t n = 1;
    for (uint64_t d : shape) {
        if (d != 0 && n > UINT64_MAX / d) fail(Errc::corrupt, what + ": shape overflows");
        n *= d;
    }
    return n;
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path) {
    fs::path p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        fs::path index = p / "model.safetensors.index.json";
        if (fs::exists(index)) {
            p = index;
        } else {
            std::vector<fs::path> found;
            for (const auto& e : fs::directory_iterator(p))
                if (e.path().extension() == ".safetensors") found.push_back(e.path());
            if (found.size() != 1)
                fail(Errc::invalid_argument,
                     path + ": folder must hold model.safetensors.index.json or one .safetensors file");
            p = found[0];
        }
    }
    if (p.extension() == ".json") {
        MappedFile idx(p.string());
        json j;
        try {
            j = json::parse(idx.data(), idx.data() + idx.size());
        } catch (const std::exception& e) {
            fail(Errc::corrupt, p.string() + ": invalid JSON: " + e.what());
        }
        if (!j.contains("weight_map") || !j["weight_map"].is_object())
            fail(Errc::corrupt, p.string() + ": no weight_map");
        std::vector<std::string> shards;
        for (auto& [name, file] : j["weight_map"].items()) {
            if (!file.is_string()) fail(Errc::corrupt, p.string() + ": weight_map entry not a string");
            std::string f = file.get<std::string>();
            if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
        }
        std::sort(shards.begin(), shards.end());
        for (const auto& s : shards) add_file((p.parent_path() / s).string());
        if (j.contains("metadata") && j["metadata"].is_object())
            for (auto& [k, v] : j["metadata"].items())
                if (!metadata_.count(k)) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    } else {
        add_file(p.string());
    }
}

void SafetensorsReader::add_file(const std::string& file) {
    auto mf = std::make_unique<MappedFile>(file);
    const uint8_t* base = mf->data();
    const uint64_t fsize = mf->size();
    if (fsize < 8) fail(Errc::corrupt, file + ": too small for a safetensors file");
    uint64_t hlen = load_le(base, 8);
    if (hlen > fsize - 8) fail(Errc::corrupt, file + ": header length beyond end of file");
    json h;
    try {
        h = json::parse(base + 8, base + 8 + hlen);
    } catch (const std::exception& e) {
        fail(Errc::corrupt, file + ": invalid JSON header: " + e.what());
    }
    if (!h.is_object()) fail(Errc::corrupt, file + ": header is not a JSON object");
    const uint8_t* data = base + 8 + hlen;
    const uint64_t data_size = fsize - 8 - hlen;
    std::vector<SafetensorsTensor> local;
    for (auto& [name, v] : h.items()) {
        if (name == "__metadata__") {
            if (v.is_object() && files_.empty())
                for (auto& [k, mv] : v.items()) metadata_[k] = mv.is_string() ? mv.get<std::string>() : mv.dump();
            continue;
        }
        const std::string what = file + ": tensor '" + name + "'";
        try {
            SafetensorsTensor t;
            t.name = name;
            t.dtype_name = v.at("dtype").get<std::string>();
            t.dtype = dtype_from_name(t.dtype_name);
            if (t.dtype == DType::unknown) fail(Errc::unsupported, what + ": unsupported dtype " + t.dtype_name);
            t.shape = v.at("shape").get<std::vector<uint64_t>>();
            auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
            if (off.size() != 2 || off[0] > off[1] || off[1] > data_size)
                fail(Errc::corrupt, what + ": data_offsets out of range");
            uint64_t n = checked_elements(t.shape, what);
            if (n > UINT64_MAX / dtype_size(t.dtype) || n * dtype_size(t.dtype) != off[1] - off[0])
                fail(Errc::corrupt, what + ": byte size does not match shape and dtype");
            t.data = data + off[0];
            t.size = off[1] - off[0];
            t.source = file;
            t.file_index = files_.size();
            local.push_back(std::move(t));
        } catch (const nlohmann::json::exception& e) {
            fail(Errc::corrupt, what + ": malformed entry: " + e.what());
        }
    }
    std::stable_sort(local.begin(), local.end(),
                     [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.data < b.data; });
    for (auto& t : local) {
        if (by_name_.count(t.name)) fail(Errc::corrupt, file + ": tensor '" + t.name + "' appears twice");
        by_name_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
    }
    header_bytes_ += 8 + hlen;
    file_bytes_ += fsize;
    files_.push_back(std::move(mf));
}

void SafetensorsReader::release(const SafetensorsTensor& t) const {
    // Consumers go through tensors in data order, so everything of the file up to the
    // end of this tensor is done with: releasing that whole range also frees the pages
    // that small tensors share with their neighbours.
    const MappedFile& f = *files_.at(t.file_index);
    f.release_prefix(static_cast<size_t>(t.data + t.size - f.data()));
}

void SafetensorsReader::read(const SafetensorsTensor& t, uint8_t* dst) const {
    const MappedFile& f = *files_.at(t.file_index);
    f.read_at(static_cast<uint64_t>(t.data - f.data()), dst, t.size);
}

const uint8_t* SafetensorsReader::read(const SafetensorsTensor& t, ReadAhead& ahead, uint8_t* memory,
                                       size_t max_window) const {
    const MappedFile& f = *files_.at(t.file_index);
    const uint64_t offset = static_cast<uint64_t>(t.data - f.data());
    return ahead.get(f, offset, offset + t.size, memory, max_window);
}

const SafetensorsTensor* SafetensorsReader::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------


SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), entries_(std::move(entries)) {
    // nlohmann's ordered_json keeps declaration order, so readers see tensors in order.
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) m[k] = v;
        h["__metadata__"] = m;
    }
    uint64_t off = 0;
    for (const auto& e : entries_) {
        h[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {off, off + e.size}}};
        off += e.size;
    }
    std::string text = h.dump();
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // keep tensor data 8-byte aligned
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(Errc::io, path + ": cannot create: " + std::strerror(errno));
    uint8_t len[8];
    store_le(len, text.size(), 8);
    write_all(fd_, len, 8, path_);
    write_all(fd_, text.data(), text.size(), path_);
}

SafetensorsWriter::~SafetensorsWriter() {
    if (fd_ >= 0) ::close(fd_);
}

void SafetensorsWriter::write_next(const void* data, uint64_t size) {
    if (next_ >= entries_.size() || entries_[next_].size != size)
        fail(Errc::internal, path_ + ": tensor written out of order or with the wrong size");
    write_all(fd_, data, size, path_);
    ++next_;
}

void SafetensorsWriter::finish() {
    if (next_ != entries_.size()) fail(Errc::internal, path_ + ": not every tensor was written");
    if (::close(fd_) != 0) {
        fd_ = -1;
        fail(Errc::io, path_ + ": close failed: " + std::strerror(errno));
    }
    fd_ = -1;
}

}  // namespace qstore
