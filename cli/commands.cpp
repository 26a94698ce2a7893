#include "commands.hpp"

#include <fnmatch.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "schemes/layout.hpp"
#include "io/atomic_file.hpp"
#include "base/error.hpp"
#include "io/gguf.hpp"
#include "io/gguf_layout.hpp"
#include "input.hpp"
#include "progress.hpp"
#include "read/gguf_export.hpp"
#include "read/reader.hpp"
#include "io/safetensors.hpp"

using namespace qstore;

namespace {

std::string shape_string(const std::vector<uint64_t>& shape) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
    s << "]";
    return s.str();
}

// "passthrough", "int8-row", or a chain from high to low: "int8-row>q4_0".
std::string scheme_name(const TensorRecord& t) {
    if (!t.quantized()) return "passthrough";
    std::string s;
    for (size_t k = t.low.size(); k-- > 0;) s += t.scheme(k).name() + (k ? ">" : "");
    return s;
}

const char* section_name(uint32_t kind) {
    switch (static_cast<SectionKind>(kind)) {
        case SectionKind::metadata: return "metadata";
        case SectionKind::tensor_index: return "tensor_index";
        case SectionKind::level_data: return "level_data";
        case SectionKind::gguf_layout: return "gguf_layout";
    }
    return "unknown";
}

struct Totals {
    uint64_t elements = 0, quantized_elements = 0;
    uint64_t high_bytes = 0, low_bytes = 0;              // separate raw files' tensor bytes
    uint64_t stored_low = 0, stored_residual = 0;        // all tensors: level 0, levels above it
    uint64_t quantized_stored = 0;                       // quantized tensors: low + residual
};

Totals totals_of(const Reader& r) {
    Totals t;
    for (size_t i = 0; i < r.tensor_count(); ++i) {
        const auto& rec = r.tensor(i);
        t.elements += rec.elements();
        t.high_bytes += r.high_bytes(rec);
        for (size_t k = 0; k < std::max<size_t>(1, rec.top_level()); ++k)
            t.low_bytes += r.level_code_bytes(rec, k) + r.level_scale_bytes(rec, k) + r.level_zero_point_bytes(rec, k);
        t.stored_low += r.stored_bytes(rec, 0);
        if (rec.quantized()) {
            for (size_t k = 1; k < rec.levels.size(); ++k) t.stored_residual += r.stored_bytes(rec, k);
            t.quantized_elements += rec.elements();
            for (size_t k = 0; k < rec.levels.size(); ++k) t.quantized_stored += r.stored_bytes(rec, k);
        }
    }
    return t;
}

std::vector<uint64_t> level_sizes(const Reader& r, const TensorRecord& t) {
    std::vector<uint64_t> v;
    for (size_t k = 0; k < t.levels.size(); ++k) v.push_back(r.stored_bytes(t, k));
    return v;
}

double pct(uint64_t a, uint64_t b) { return b ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0; }
double bpw(uint64_t bytes, uint64_t elements) {
    return elements ? 8.0 * static_cast<double>(bytes) / static_cast<double>(elements) : 0.0;
}

// The given low file's tensors the pack could not use and the tensors it left
// unquantized for want of codes (an error instead with --strict).
void warn_given_low(const std::string& low_file, const PackStats& s) {
    if (!s.given_low_unused.empty()) {
        std::fprintf(stderr, "qstore: warning: %s: %zu tensors not used:\n", low_file.c_str(), s.given_low_unused.size());
        for (const std::string& n : s.given_low_unused) std::fprintf(stderr, "  %s\n", n.c_str());
    }
    if (!s.given_low_missing.empty()) {
        std::fprintf(stderr, "qstore: warning: %s: no usable low codes for %zu quantizable tensors, stored unquantized:\n",
                     low_file.c_str(), s.given_low_missing.size());
        for (const std::string& n : s.given_low_missing) std::fprintf(stderr, "  %s\n", n.c_str());
    }
}

}  // namespace

int cmd_pack(const std::string& input, const std::string& low_file, const std::string& output,
             const PackOptions& options_in, bool llama_mix) {
    // The model: a GGUF file (told by its magic; kept byte for byte through its
    // gguf_layout section) or safetensors.
    PackOptions options = options_in;
    std::unique_ptr<TensorSource> high_source;
    if (is_gguf_file(input)) {
        auto g = std::make_unique<GgufReader>(input, GgufUse::model);
        options.gguf_layout = serialize_gguf_layout(*g);
        high_source = std::move(g);
    } else {
        high_source = std::make_unique<SafetensorsReader>(input);
    }
    const TensorSource& high = *high_source;
    if (llama_mix) {
        options.llama_mix_tensor = llama_mix_tensor(high.tensors());
        if (options.llama_mix_tensor.empty())
            fail(Errc::invalid_argument, input + ": --llama-mix: the model has no output.weight or token_embd.weight");
    }
    // The given low precision: a GGUF file (told by its magic) or safetensors.
    std::unique_ptr<TensorSource> low;
    if (!low_file.empty() && is_gguf_file(low_file)) {
        auto g = std::make_unique<GgufReader>(low_file);
        std::map<std::string, size_t> skipped;  // ggml types qstore does not read
        for (const auto& info : g->infos())
            if (!g->available(info)) skipped[ggml_type_name(info.type)]++;
        if (!skipped.empty()) {
            std::string list;
            for (const auto& [type, n] : skipped) list += (list.empty() ? "" : ", ") + std::to_string(n) + " " + type;
            std::fprintf(stderr, "qstore: note: %s: tensors of types qstore does not read (%s) are treated as absent "
                                 "(their high tensors are stored as they are)\n",
                         low_file.c_str(), list.c_str());
        }
        low = std::move(g);
    } else if (!low_file.empty()) {
        low = std::make_unique<SafetensorsReader>(low_file);
    }
    // Every file read (the model's shards, the index, the given low file) is refused as
    // the output before any work; pack() writes the output atomically.
    std::vector<std::string> inputs = {input, low_file};
    for (const auto& t : high.tensors()) inputs.push_back(t.source);
    if (auto* st = dynamic_cast<const SafetensorsReader*>(low.get()))
        for (const auto& t : st->tensors()) inputs.push_back(t.source);
    check_output_path(output, inputs);
    Progress progress("packing");
    options.progress = [&](size_t done, size_t total, const std::string& name) { progress.update(done, total, name); };
    PackStats s = pack(high, low.get(), options, output);
    warn_given_low(low_file, s);
    const uint64_t separate = s.high_bytes + s.low_separate_bytes;
    std::printf("%s: %llu tensors (%llu quantized), %llu bytes = %.1f%% of the separate raw files "
                "(%llu high + %llu low); low prefix %llu bytes\n",
                output.c_str(), (unsigned long long)s.tensors, (unsigned long long)s.quantized_tensors,
                (unsigned long long)s.file_size, pct(s.file_size, separate), (unsigned long long)s.high_bytes,
                (unsigned long long)s.low_separate_bytes, (unsigned long long)s.low_prefix_end);
    return 0;
}

namespace {

// One tensor of an unpacked precision. `scheme`: the low scheme whose part it is (null
// for high and passthrough tensors); `blocks`: Q8_0/Q4_0 block bytes of a [rows, cols]
// tensor.
struct OutTensor {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    uint64_t size;
    const LowScheme* scheme = nullptr;
    Geometry g;
};

// The "safetensors_metadata" strings of a .qs metadata section, read as JSON events: a
// parsed nlohmann::json allocates when it is destroyed, and an allocation failing there
// (out of memory) would end the program instead of failing the unpack.
class MetadataSax : public nlohmann::json_sax<nlohmann::json> {
public:
    explicit MetadataSax(const std::string& file) : file_(file) {}
    std::map<std::string, std::string> found;

    bool start_object(std::size_t) override { return enter(); }
    bool end_object() override { return leave(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override { return leave(); }
    bool key(string_t& k) override {
        if (depth_ == 1) wanted_ = k == "safetensors_metadata";
        key_ = k;
        return true;
    }
    bool string(string_t& v) override {
        if (inside()) found[key_] = v;
        return true;
    }
    bool null() override { return scalar(); }
    bool boolean(bool) override { return scalar(); }
    bool number_integer(number_integer_t) override { return scalar(); }
    bool number_unsigned(number_unsigned_t) override { return scalar(); }
    bool number_float(number_float_t, const string_t&) override { return scalar(); }
    bool binary(binary_t&) override { return scalar(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
        fail(Errc::corrupt, file_ + ": metadata is not valid JSON: " + e.what());
    }

private:
    bool inside() const { return depth_ == 2 && wanted_; }
    bool scalar() {
        if (inside()) fail(Errc::corrupt, file_ + ": safetensors_metadata '" + key_ + "' is not a string");
        return true;
    }
    bool enter() {
        scalar();  // an object or array as a value of safetensors_metadata
        ++depth_;
        return true;
    }
    bool leave() {
        if (--depth_ == 1) wanted_ = false;
        return true;
    }
    std::string file_, key_;
    int depth_ = 0;
    bool wanted_ = false;
};

std::map<std::string, std::string> safetensors_metadata(const std::string& file, const std::string& json_text) {
    if (json_text.empty()) return {};
    MetadataSax sax(file);
    nlohmann::json::sax_parse(json_text, &sax);
    return std::move(sax.found);
}

// Writes the tensors as safetensors or GGUF, in order.
class OutFile {
public:
    OutFile(const std::string& path, bool gguf, const std::vector<OutTensor>& tensors,
            const std::map<std::string, std::string>& metadata, const std::string& precision) {
        if (!gguf) {
            std::vector<SafetensorsWriter::Entry> entries;
            for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape, t.size});
            st_ = std::make_unique<SafetensorsWriter>(path, entries, metadata);
            return;
        }
        std::vector<GgufWriter::Entry> entries;
        for (const auto& t : tensors) {
            GgufWriter::Entry e{t.name, GgmlType::f32, {}, t.size};
            const SchemeId id = t.scheme ? t.scheme->id() : SchemeId::passthrough;
            if (t.dtype == DType::u8 && (id == SchemeId::q8_0 || id == SchemeId::q4_0)) {
                e.type = id == SchemeId::q8_0 ? GgmlType::q8_0 : GgmlType::q4_0;
                e.ne = {t.g.cols, t.g.rows};
            } else if (ggml_type_of(t.dtype, e.type)) {
                e.ne.assign(t.shape.rbegin(), t.shape.rend());
                if (e.ne.empty()) e.ne = {1};  // a scalar: GGUF tensors have 1 to 4 dimensions
                if (e.ne.size() > kGgufMaxDims)
                    fail(Errc::unsupported, path + ": tensor '" + t.name + "' has " + std::to_string(t.shape.size()) +
                                                " dimensions, GGUF holds at most 4; unpack to .safetensors instead");
            } else if (t.scheme) {
                fail(Errc::unsupported, path + ": scheme " + t.scheme->name() + " writes '" + t.name + "' as " +
                                            dtype_name(t.dtype) + ", which GGUF has no type for; unpack to "
                                            ".safetensors instead (GGUF takes q8_0, q4_0, int8-row, int8-tensor, "
                                            "int8-group and the high precision)");
            } else {
                fail(Errc::unsupported, path + ": tensor '" + t.name + "' is " + dtype_name(t.dtype) +
                                            ", which GGUF has no type for; unpack to .safetensors instead");
            }
            entries.push_back(std::move(e));
        }
        std::vector<std::pair<std::string, std::string>> kv = {{"qstore.precision", precision}};
        for (const auto& [k, v] : metadata) kv.push_back({"safetensors." + k, v});
        gg_ = std::make_unique<GgufWriter>(path, std::move(entries), kv);
    }
    void write_next(const void* p, uint64_t n) { st_ ? st_->write_next(p, n) : gg_->write_next(p, n); }
    void finish() { st_ ? st_->finish() : gg_->finish(); }

private:
    std::unique_ptr<SafetensorsWriter> st_;
    std::unique_ptr<GgufWriter> gg_;
};

// A file packed from GGUF, written as GGUF: the original file, or a low level as
// llama-quantize writes it (read/gguf_export.hpp).
int unpack_gguf_model(const Reader& r, bool high, size_t level, const std::string& output, bool llama_mix) {
    Progress progress("unpacking");
    auto report = [&](size_t done, size_t total, const std::string& name) { progress.update(done, total, name); };
    if (high) export_gguf_high(r, output, report);
    else export_gguf_low(r, level, output, report, llama_mix);
    return 0;
}

}  // namespace

namespace {

// The tensors to unpack: all, or those whose names match one of the globs.
std::vector<size_t> select_tensors(const Reader& r, const std::string& input, const std::vector<std::string>& globs) {
    std::vector<size_t> out;
    for (size_t i = 0; i < r.tensor_count(); ++i) {
        bool match = globs.empty();
        for (const std::string& g : globs) match = match || fnmatch(g.c_str(), r.tensor(i).name.c_str(), 0) == 0;
        if (match) out.push_back(i);
    }
    if (out.empty()) fail(Errc::invalid_argument, input + ": no tensor matches --tensors");
    return out;
}

// The level --precision names ("high", "low" = 0, or a number), checked against the
// selected tensors; kHighLevel for the high precision. Passthrough tensors are written
// as they are at every level.
size_t unpack_level(const Reader& r, const std::string& input, const std::string& precision,
                    const std::vector<size_t>& selected) {
    size_t level = 0;
    bool high = precision == "high";
    if (!high && precision != "low") {
        if (precision.empty() || precision.find_first_not_of("0123456789") != std::string::npos || precision.size() > 2)
            fail(Errc::invalid_argument, "--precision must be high, low or a level number");
        level = std::stoul(precision);
    }
    size_t max_levels = 1;
    for (size_t i = 0; i < r.tensor_count(); ++i) max_levels = std::max(max_levels, r.tensor(i).levels.size());
    if (!high && level + 1 >= max_levels && max_levels > 1) high = level + 1 == max_levels;
    if (!high && level + 1 > max_levels)
        fail(Errc::invalid_argument, input + ": has no precision level " + precision);
    for (size_t i : selected)
        if (!high && r.tensor(i).quantized() && level >= r.tensor(i).top_level())
            fail(Errc::invalid_argument, input + ": tensor '" + r.tensor(i).name + "' has no low level " + precision);
    return high ? kHighLevel : level;
}

}  // namespace

int cmd_unpack(const std::string& input, const std::string& precision, const std::string& output, unsigned threads,
               bool gguf, bool llama_mix, const std::vector<std::string>& tensor_globs) {
    check_output_path(output, {input});  // before anything is read or written
    ReaderOptions ro;
    ro.threads = threads;
    Input in(input, ro);
    const Reader& r = in.reader();
    const std::vector<size_t> selected = select_tensors(r, r.path(), tensor_globs);
    const size_t level = unpack_level(r, r.path(), precision, selected);
    const bool high = level == kHighLevel;
    if (llama_mix && (high || !gguf || !r.gguf_layout()))
        fail(Errc::invalid_argument, "--llama-mix goes with a low precision written as GGUF from a file packed from GGUF");
    if (gguf && r.gguf_layout()) {
        if (!tensor_globs.empty())
            fail(Errc::invalid_argument, "--tensors does not go with a GGUF model written back as GGUF");
        return unpack_gguf_model(r, high, high ? 0 : level, output, llama_mix);
    }
    std::vector<OutTensor> entries;
    const std::map<std::string, std::string> metadata = safetensors_metadata(r.path(), r.metadata_json());
    for (size_t i : selected) {
        const auto& t = r.tensor(i);
        if (high || !t.quantized()) {
            entries.push_back({t.name, t.high_dtype, t.shape, r.high_bytes(t), nullptr, {}});
        } else {
            const LowScheme& scheme = t.scheme(level);
            const Geometry g = t.geometry();
            const LowTensorSpecs specs = low_tensor_specs(scheme, t.name, g, t.shape);
            const uint64_t stored[] = {r.level_code_bytes(t, level), r.level_scale_bytes(t, level),
                                       r.level_zero_point_bytes(t, level)};
            for (size_t k = 0; k < specs.parts.size(); ++k)
                if (!specs.parts[k].name.empty())
                    entries.push_back({specs.parts[k].name, specs.parts[k].dtype, specs.parts[k].shape, stored[k],
                                       &scheme, g});
            for (const LowTensorSpec& d : specs.derived)
                entries.push_back({d.name, d.dtype, d.shape, d.bytes, &scheme, g});
        }
    }
    std::set<std::string> names;
    for (const auto& e : entries)
        if (!names.insert(e.name).second)
            fail(Errc::invalid_argument, output + ": two tensors would be named '" + e.name + "'");
    OutFile w(output, gguf, entries, metadata, high ? "high" : std::to_string(level));
    Progress progress("unpacking");
    std::vector<uint8_t> a, b;
    size_t done = 0;
    // A whole low model is fetched as whole level sections (one request each); a high
    // model or a selection as the tensors' own bytes.
    in.for_each(selected, level, !high && tensor_globs.empty(), [&](size_t i) {
        const auto& t = r.tensor(i);
        if (high) {
            a.resize(r.high_bytes(t));
            r.load_high(i, a.data(), a.size());
            w.write_next(a.data(), a.size());
        } else if (!t.quantized()) {
            a.resize(r.high_bytes(t));
            r.load_low(i, a.data(), a.size(), nullptr, 0);
            w.write_next(a.data(), a.size());
        } else {
            const uint64_t nc = r.level_code_bytes(t, level), ns = r.level_scale_bytes(t, level),
                           nz = r.level_zero_point_bytes(t, level);
            a.resize(nc);
            b.resize(ns + nz);
            r.load_level(i, level, a.data(), nc, b.data(), ns, b.data() + ns, nz);
            w.write_next(a.data(), nc);
            const LowTensorNames low_names = low_tensor_names(t.scheme(level), t.name);
            if (!low_names.scales.empty()) w.write_next(b.data(), ns);
            if (nz) w.write_next(b.data() + ns, nz);
            if (!low_names.group_index.empty()) {
                const std::vector<uint8_t> gi = group_index_bytes(t.geometry().cols, t.low[level].group);
                w.write_next(gi.data(), gi.size());
            }
        }
        progress.update(++done, selected.size(), t.name);
    });
    w.finish();
    return 0;
}

namespace {

// `qstore info --json`: the file's layout, metadata, tensors and totals.
void print_info_json(const Reader& r, const Totals& tot) {
    const uint64_t separate = tot.high_bytes + tot.low_bytes;
    const auto& h = r.header();
    nlohmann::ordered_json j;
    j["file"] = r.path();  // a URL without its credentials
    j["file_size"] = r.actual_size();
    j["format_version"] = std::to_string(h.major) + "." + std::to_string(h.minor);
    j["container"] = container_name(r.container_kind());
    j["header_offset"] = r.header_offset();
    j["low_prefix_end"] = h.low_prefix_end;
    // level_prefix_end[k]: the file up to here serves precision levels 0..k.
    std::vector<uint64_t> ends;
    for (const auto& s : r.sections())
        if (static_cast<SectionKind>(s.kind) == SectionKind::level_data && ends.size() <= s.level)
            ends.resize(s.level + 1, 0);
    for (size_t k = 0; k < ends.size(); ++k) ends[k] = r.level_prefix_end(k);
    j["level_prefix_end"] = ends;
    j["metadata"] = r.metadata_json().empty() ? nlohmann::json::object() : nlohmann::json::parse(r.metadata_json());
    j["sections"] = nlohmann::json::array();
    for (const auto& s : r.sections())
        j["sections"].push_back({{"kind", section_name(s.kind)}, {"level", s.level}, {"offset", s.offset},
                                 {"length", s.stored_size}, {"raw_length", s.raw_size}, {"checksum", s.checksum}});
    j["tensors"] = nlohmann::json::array();
    for (size_t i = 0; i < r.tensor_count(); ++i) {
        const auto& t = r.tensor(i);
        j["tensors"].push_back({{"name", t.name}, {"dtype", dtype_name(t.high_dtype)}, {"shape", t.shape},
                                {"scheme", scheme_name(t)}, {"high_bytes", r.high_bytes(t)},
                                {"low_code_bytes", r.low_code_bytes(t)}, {"low_scale_bytes", r.low_scale_bytes(t)},
                                {"stored_low_bytes", r.stored_bytes(t, 0)},
                                {"stored_residual_bytes", t.quantized() ? r.stored_bytes(t, t.top_level()) : 0},
                                {"stored_level_bytes", level_sizes(r, t)},
                                {"low_codes_raw", r.low_codes_raw(t)}});
    }
    j["totals"] = {{"elements", tot.elements},
                   {"quantized_elements", tot.quantized_elements},
                   {"separate_high_bytes", tot.high_bytes},
                   {"separate_low_bytes", tot.low_bytes},
                   {"stored_low_bytes", tot.stored_low},
                   {"stored_residual_bytes", tot.stored_residual},
                   {"percent_of_separate", pct(r.actual_size(), separate)},
                   {"bits_per_weight", bpw(r.actual_size(), tot.elements)},
                   {"quantized_bits_per_weight", bpw(tot.quantized_stored, tot.quantized_elements)}};
    std::printf("%s\n", j.dump(2).c_str());
}

// `qstore info`: the tensor table, the sections and the sizes against the separate files.
void print_info_text(const Reader& r, const Totals& tot) {
    const uint64_t separate = tot.high_bytes + tot.low_bytes;
    const auto& h = r.header();
    std::printf("%s: qstore format %u.%u, %zu tensors, %llu bytes\n", r.path().c_str(), h.major, h.minor,
                r.tensor_count(), (unsigned long long)r.actual_size());
    if (r.container_kind() != ContainerKind::qs)
        std::printf("%s container of the low model: qstore header at offset %llu\n", container_name(r.container_kind()),
                    (unsigned long long)r.header_offset());
    std::printf("\n%-48s %-5s %-18s %-11s %12s %12s %6s\n", "tensor", "dtype", "shape", "low", "low bytes",
                "resid bytes", "bpw");
    for (size_t i = 0; i < r.tensor_count(); ++i) {
        const auto& t = r.tensor(i);
        std::string name = t.name.size() > 48 ? "..." + t.name.substr(t.name.size() - 45) : t.name;
        const uint64_t lo = r.stored_bytes(t, 0);
        uint64_t re = 0;
        for (size_t k = 1; k < t.levels.size(); ++k) re += r.stored_bytes(t, k);
        std::printf("%-48s %-5s %-18s %-11s %12llu %12llu %6.2f\n", name.c_str(), dtype_name(t.high_dtype),
                    shape_string(t.shape).c_str(), scheme_name(t).c_str(), (unsigned long long)lo,
                    (unsigned long long)re, bpw(lo + re, t.elements()));
    }
    std::printf("\nsections:\n");
    for (const auto& s : r.sections())
        std::printf("  %-13s level %u  offset %12llu  length %12llu\n", section_name(s.kind), s.level,
                    (unsigned long long)s.offset, (unsigned long long)s.stored_size);
    std::printf("\nseparate raw files (tensor bytes): high %llu + low %llu = %llu\n", (unsigned long long)tot.high_bytes,
                (unsigned long long)tot.low_bytes, (unsigned long long)separate);
    std::printf("qstore file: %llu bytes = %.1f%% of the separate files, %.2f bits/weight; "
                "quantized tensors: %.2f bits/weight\n",
                (unsigned long long)r.actual_size(), pct(r.actual_size(), separate), bpw(r.actual_size(), tot.elements),
                bpw(tot.quantized_stored, tot.quantized_elements));
    std::printf("low precision prefix: %llu bytes = %.1f%% of the separate low file\n",
                (unsigned long long)h.low_prefix_end, pct(h.low_prefix_end, tot.low_bytes));
}

}  // namespace

int cmd_info(const std::string& input, bool json) {
    ReaderOptions ro;
    ro.threads = 1;
    Input in(input, ro);
    const Reader& r = in.reader();
    const Totals tot = totals_of(r);
    if (json) print_info_json(r, tot);
    else print_info_text(r, tot);
    return 0;
}

int cmd_verify(const std::string& input, unsigned threads, const std::string& against) {
    ReaderOptions ro;
    ro.threads = threads;
    Input in(input, ro);
    const Reader& r = in.reader();
    {
        Progress progress("verifying");
        r.verify([&](size_t done, size_t total) { progress.update(done, total, r.tensor(done - 1).name); });
    }
    std::printf("%s: ok (%zu tensors, every checksum and every precision level decoded)\n", r.path().c_str(), r.tensor_count());
    if (against.empty()) return 0;
    // The original: safetensors, or the GGUF file the .qs was packed from.
    std::unique_ptr<TensorSource> original_source;
    if (is_gguf_file(against)) original_source = std::make_unique<GgufReader>(against, GgufUse::model);
    else original_source = std::make_unique<SafetensorsReader>(against);
    const TensorSource& original = *original_source;
    if (original.tensors().size() != r.tensor_count())
        fail(Errc::corrupt, r.path() + ": holds " + std::to_string(r.tensor_count()) + " tensors, " + against + " holds " +
                                std::to_string(original.tensors().size()));
    Progress progress("comparing");
    std::vector<uint8_t> high, against_bytes;
    for (size_t i = 0; i < r.tensor_count(); ++i) {
        const auto& t = r.tensor(i);
        const SafetensorsTensor* o = original.find(t.name);
        if (!o) fail(Errc::corrupt, against + ": has no tensor '" + t.name + "'");
        if (o->dtype != t.high_dtype || o->shape != t.shape || o->size != r.high_bytes(t))
            fail(Errc::corrupt, r.path() + ": tensor '" + t.name + "': dtype or shape differs from " + against);
        high.resize(r.high_bytes(t));
        r.load_high(i, high.data(), high.size());
        against_bytes.resize(o->size);
        original.read(*o, against_bytes.data());  // pread: the original's pages stay out of RSS
        if (std::memcmp(high.data(), against_bytes.data(), high.size()) != 0)
            fail(Errc::corrupt, r.path() + ": tensor '" + t.name + "': high precision differs from " + against);
        progress.update(i + 1, r.tensor_count(), t.name);
    }
    std::printf("%s: every tensor's high precision is bit-identical to %s\n", r.path().c_str(), against.c_str());
    return 0;
}
