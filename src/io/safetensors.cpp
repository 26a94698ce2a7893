#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "io/file_sink.hpp"
#include "base/input_checks.hpp"
#include "io/shard_index.hpp"

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
        const ShardIndex index = read_shard_index(p.string());
        for (const std::string& shard : index.shard_paths) add_file(shard);
        check_weight_map(index, tensors_);
        for (const auto& [k, v] : index.metadata)
            if (!metadata_.count(k)) metadata_[k] = v;
    } else {
        add_file(p.string());
    }
}

namespace {

// The largest header the safetensors format allows (its reference reader's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// The entries of a safetensors header, read as JSON events (nlohmann's SAX interface)
// instead of through a document: a document builds a map node and strings per key
// that are all freed again, which for a header of thousands of tensors is most of the
// cost of opening the model, largely in faults of fresh pages
// (docs/design/code-notes.md).
// Entries are checked as they complete; the first problem stops the parse.
class HeaderEvents {
public:
    using json_t = nlohmann::json;
    struct Entry {
        std::string name, dtype;
        std::vector<uint64_t> shape, offsets;
        bool has_dtype = false, has_shape = false, has_offsets = false;
    };
    std::vector<Entry> entries;
    std::map<std::string, std::string> metadata;
    bool metadata_not_strings = false;  // a metadata value that is not a string (read by the document)
    std::string error;                  // why the parse stopped, if it did
    std::string error_entry;            // the tensor it was in ("" outside any)

    bool start_object(std::size_t) {
        if (depth_ == 0) return ++depth_, true;
        if (!value(Kind::object)) return false;
        if (depth_ == 1) {
            if (in_metadata_) {
                metadata_object_ = true;
            } else {
                entries.emplace_back();
                entries.back().name = std::move(key_);
                in_entry_ = true;
            }
        }
        return ++depth_, true;
    }
    bool end_object() {
        if (--depth_ == 1) {
            if (in_entry_ && !check_entry(entries.back())) return false;
            in_entry_ = in_metadata_ = metadata_object_ = false;
        }
        return true;
    }
    bool start_array(std::size_t) {
        if (!value(Kind::array)) return false;
        if (depth_ == 2 && in_entry_) {
            if (field_ == Field::shape) entries.back().has_shape = true;
            if (field_ == Field::offsets) entries.back().has_offsets = true;
            array_ = field_;
        }
        return ++depth_, true;
    }
    bool end_array() {
        if (--depth_ == 2) array_ = Field::none;
        return true;
    }
    bool key(std::string& k) {
        if (depth_ == 1) {
            in_metadata_ = k == "__metadata__";
            key_ = std::move(k);
        } else if (depth_ == 2 && in_entry_) {
            field_ = k == "dtype"          ? Field::dtype
                     : k == "shape"        ? Field::shape
                     : k == "data_offsets" ? Field::offsets
                                           : Field::none;
        } else if (depth_ == 2 && metadata_object_) {
            key_ = std::move(k);
        }
        return true;
    }
    bool string(std::string& v) {
        if (!value(Kind::string)) return false;
        if (depth_ == 2 && in_entry_ && field_ == Field::dtype) {
            entries.back().dtype = std::move(v);
            entries.back().has_dtype = true;
        } else if (depth_ == 2 && metadata_object_) {
            metadata[key_] = std::move(v);
        }
        return true;
    }
    bool number_unsigned(json_t::number_unsigned_t v) {
        if (!value(Kind::unsigned_number)) return false;
        if (depth_ == 3 && array_ == Field::shape) entries.back().shape.push_back(v);
        if (depth_ == 3 && array_ == Field::offsets) entries.back().offsets.push_back(v);
        return true;
    }
    bool number_integer(json_t::number_integer_t) { return value(Kind::other); }  // negative
    bool number_float(json_t::number_float_t, const std::string&) { return value(Kind::other); }
    bool boolean(bool) { return value(Kind::other); }
    bool null() { return value(Kind::other); }
    bool binary(json_t::binary_t&) { return value(Kind::other); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
        error_entry.clear();
        error = std::string("invalid JSON header: ") + e.what();
        return false;
    }

private:
    enum class Field { none, dtype, shape, offsets };
    enum class Kind { object, array, string, unsigned_number, other };
    // A value of this kind starts at the current depth: the header must be an object of
    // objects, a tensor's fields must have their types (values of other keys are
    // skipped, whatever they hold).
    bool value(Kind kind) {
        if (depth_ == 0) return stop("", "header is not a JSON object");
        if (depth_ == 1 && !in_metadata_ && kind != Kind::object) return stop(key_, "malformed entry: not an object");
        if (depth_ == 2 && in_entry_) {
            if (field_ == Field::dtype && kind != Kind::string)
                return stop(entries.back().name, "malformed entry: dtype is not a string");
            if ((field_ == Field::shape || field_ == Field::offsets) && kind != Kind::array)
                return stop(entries.back().name, "malformed entry: shape and data_offsets are arrays");
        }
        if (depth_ == 3 && array_ != Field::none && kind != Kind::unsigned_number)
            return stop(entries.back().name, "malformed entry: shape and data_offsets hold unsigned integers");
        if (depth_ == 2 && metadata_object_ && kind != Kind::string) metadata_not_strings = true;
        return true;
    }
    bool check_entry(const Entry& e) {
        if (!e.has_dtype || !e.has_shape || !e.has_offsets)
            return stop(e.name, "malformed entry: needs dtype, shape and data_offsets");
        return true;
    }
    bool stop(const std::string& entry, const std::string& why) {
        error_entry = entry;
        error = why;
        return false;
    }
    int depth_ = 0;  // objects and arrays open
    bool in_entry_ = false, in_metadata_ = false, metadata_object_ = false;
    std::string key_;  // the last key at depth 1, or in the metadata object
    Field field_ = Field::none, array_ = Field::none;
};

}  // namespace

void SafetensorsReader::add_file(const std::string& file) {
    auto mf = std::make_unique<MappedFile>(file);
    const uint8_t* base = mf->data();
    const uint64_t fsize = mf->size();
    if (fsize < 8) fail(Errc::corrupt, file + ": too small for a safetensors file");
    // The header is read with pread, not through the mapping: a file that shrinks while
    // it is parsed is reported as truncated instead of raising SIGBUS.
    uint8_t length_bytes[8];
    mf->read_at(0, length_bytes, 8);
    const uint64_t hlen = load_le(length_bytes, 8);
    if (hlen > fsize - 8) fail(Errc::corrupt, file + ": header length beyond end of file");
    if (hlen > kMaxHeaderBytes)
        fail(Errc::corrupt, file + ": header of " + std::to_string(hlen) + " bytes (safetensors allows at most " +
                                std::to_string(kMaxHeaderBytes) + ")");
    std::vector<uint8_t> header(static_cast<size_t>(hlen));
    mf->read_at(8, header.data(), header.size());
    HeaderEvents h;
    if (!json::sax_parse(header.begin(), header.end(), &h)) {
        if (h.error_entry.empty()) fail(Errc::corrupt, file + ": " + h.error);
        fail(Errc::corrupt, file + ": tensor '" + h.error_entry + "': " + h.error);
    }
    if (files_.empty()) {
        if (h.metadata_not_strings) {  // rare: values other than strings, kept as their JSON text
            const json doc = json::parse(header.begin(), header.end());
            for (auto& [k, v] : doc.at("__metadata__").items())
                metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
        } else {
            metadata_ = std::move(h.metadata);
        }
    }
    const uint8_t* data = base + 8 + hlen;
    const uint64_t data_size = fsize - 8 - hlen;
    std::vector<SafetensorsTensor> local;
    local.reserve(h.entries.size());
    std::vector<DataRange> ranges;
    ranges.reserve(h.entries.size());
    for (HeaderEvents::Entry& e : h.entries) {
        check_name(e.name, file + ": ", "tensor");
        const std::string what = file + ": tensor '" + e.name + "'";
        SafetensorsTensor t;
        t.name = std::move(e.name);
        t.dtype_name = std::move(e.dtype);
        t.dtype = dtype_from_name(t.dtype_name);
        if (t.dtype == DType::unknown) fail(Errc::unsupported, what + ": unsupported dtype " + t.dtype_name);
        t.shape = std::move(e.shape);
        const std::vector<uint64_t>& off = e.offsets;
        if (off.size() != 2 || off[0] > off[1] || off[1] > data_size)
            fail(Errc::corrupt, what + ": data_offsets out of range");
        uint64_t n = checked_elements(t.shape, what);
        if (n > UINT64_MAX / dtype_size(t.dtype) || n * dtype_size(t.dtype) != off[1] - off[0])
            fail(Errc::corrupt, what + ": byte size does not match shape and dtype");
        ranges.push_back({off[0], off[1], t.name});
        t.data = data + off[0];
        t.size = off[1] - off[0];
        t.source = file;
        t.file_index = files_.size();
        local.push_back(std::move(t));
    }
    // By data offset, then name (tensors of no bytes share offsets).
    std::sort(local.begin(), local.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
        return a.data != b.data ? a.data < b.data : a.name < b.name;
    });
    tensors_.reserve(tensors_.size() + local.size());
    for (auto& t : local) {
        const auto [at, added] = by_name_.emplace(t.name, tensors_.size());
        if (!added) {
            const std::string& other = tensors_[at->second].source;
            fail(Errc::corrupt, file + ": tensor '" + t.name + "' appears twice" +
                                    (other == file ? std::string() : " (also in " + other + ")"));
        }
        tensors_.push_back(std::move(t));
    }
    // After the names: a tensor named twice is reported as that, not as an overlap.
    check_safetensors_tiling(std::move(ranges), data_size, file);
    header_bytes_ += 8 + hlen;
    file_bytes_ += fsize;
    files_.push_back(std::move(mf));
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

std::vector<std::string> SafetensorsReader::tensor_names() const {
    std::vector<std::string> names;
    for (const SafetensorsTensor& t : tensors_) names.push_back(t.name);
    return names;
}

// ---------------------------------------------------------------------------


namespace {

// The JSON header, tensors in declaration order (so readers see them in order), as
// nlohmann::ordered_json::dump wrote it, assembled as text: destroying a nested
// nlohmann::json allocates, and an allocation failing there, out of memory, would end
// the program instead of failing the write.
std::string header_text(const std::string& path, const std::vector<SafetensorsWriter::Entry>& entries,
                        const std::map<std::string, std::string>& metadata) {
    auto quoted = [](const std::string& s) { return json(s).dump(); };
    std::string t = "{";
    if (!metadata.empty()) {
        t += "\"__metadata__\":{";
        for (const auto& [k, v] : metadata) t += (t.back() == '{' ? "" : ",") + quoted(k) + ":" + quoted(v);
        t += "}";
    }
    std::set<std::string> names;
    uint64_t off = 0;
    for (const auto& e : entries) {
        if (e.name == "__metadata__" || !names.insert(e.name).second)
            fail(Errc::invalid_argument, path + ": a tensor may not be named '" + e.name + "' (twice, or the metadata key)");
        t += (t.size() == 1 ? "" : ",") + quoted(e.name) + ":{\"dtype\":" + quoted(dtype_name(e.dtype)) + ",\"shape\":[";
        for (size_t i = 0; i < e.shape.size(); ++i) t += (i ? "," : "") + std::to_string(e.shape[i]);
        t += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + e.size) + "]}";
        off += e.size;
    }
    return t + "}";
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), entries_(std::move(entries)) {
    std::string text = header_text(path, entries_, metadata);
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // keep tensor data 8-byte aligned
    file_ = std::make_unique<AtomicFile>(path);  // replaces `path` at finish(), not before
    const int fd = file_->fd();
    uint8_t len[8];
    store_le(len, text.size(), 8);
    write_all(fd, len, 8, path_);
    write_all(fd, text.data(), text.size(), path_);
}

SafetensorsWriter::~SafetensorsWriter() = default;  // unfinished: the old `path` stays

void SafetensorsWriter::write_next(const void* data, uint64_t size) {
    if (next_ >= entries_.size() || entries_[next_].size != size)
        fail(Errc::internal, path_ + ": tensor written out of order or with the wrong size");
    write_all(file_->fd(), data, size, path_);
    ++next_;
}

void SafetensorsWriter::finish() {
    if (next_ != entries_.size()) fail(Errc::internal, path_ + ": not every tensor was written");
    file_->commit();
}

}  // namespace qstore
