// The C API of the writer (qs_writer_*, since 1.4): C arguments checked and converted
// for pack/writer.hpp, every exception caught and reported (capi/errors.hpp).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "errors.hpp"
#include "pack/writer.hpp"
#include "qstore/qstore.h"
#include "schemes/registry.hpp"

struct qs_writer {
    std::unique_ptr<qstore::Writer> writer;  // null once finished
};

namespace {

using qstore_capi::guarded;
using qstore_capi::report;

qs_status invalid(qs_error* err, const std::string& message) { return report(err, QS_ERR_INVALID_ARGUMENT, message); }

// "int8-row,q4_0" (highest first, as qstore pack's --low) as options.low (lowest
// first); "" if it parsed, else what is wrong.
std::string parse_low_schemes(const char* text, std::vector<qstore::SchemeSpec>& low) {
    low.clear();
    const std::string all = text ? text : "int8-row";
    size_t begin = 0;
    while (true) {
        const size_t end = std::min(all.find(',', begin), all.size());
        const std::string name = all.substr(begin, end - begin);
        const qstore::LowScheme* s = qstore::low_scheme_by_name(name);
        if (!s) return "unknown low-precision scheme '" + name + "' (known: " + qstore::low_scheme_names() + ")";
        low.insert(low.begin(), s->spec());
        if (end == all.size()) break;
        begin = end + 1;
    }
    if (low.size() > qstore::kMaxLowLevels) return "at most eight low-precision schemes";
    return "";
}

// The pack options of `o`; "" if they are valid, else what is wrong.
std::string pack_options(const qs_writer_options& o, qstore::PackOptions& p) {
    if (o.struct_size < sizeof(qs_writer_options)) return "options.struct_size must be sizeof(qs_writer_options)";
    for (uint8_t b : o.reserved)
        if (b != 0) return "options.reserved must be zero";
    const std::string low = parse_low_schemes(o.low_schemes, p.low);
    if (!low.empty()) return "options.low_schemes: " + low;
    if (o.exclude_count && !o.exclude) return "options.exclude is NULL with exclude_count > 0";
    p.exclude.clear();
    for (size_t i = 0; i < o.exclude_count; ++i) {
        if (!o.exclude[i]) return "options.exclude[" + std::to_string(i) + "] is NULL";
        p.exclude.emplace_back(o.exclude[i]);
    }
    if (o.zstd_level < -7 || o.zstd_level > 22) return "options.zstd_level must be in -7..22";
    p.zstd_level = o.zstd_level;
    p.low_raw = o.low_raw != 0;
    p.threads = o.num_threads;
    p.strict_given_low = o.strict_given_low != 0;
    return "";
}

// The given low precision of one tensor copied; "" if it is well-formed and follows
// the writer's scheme, else what is wrong.
std::string given_low(const qs_given_low& g, const qstore::Writer& w, qstore::GivenLowBytes& out) {
    if (g.struct_size < sizeof(qs_given_low)) return "low.struct_size must be sizeof(qs_given_low)";
    const qstore::SchemeSpec spec{static_cast<qstore::SchemeId>(g.scheme), g.group_size};
    const qstore::LowScheme* s = g.scheme == QS_LOW_PASSTHROUGH ? nullptr : qstore::low_scheme(spec);
    if (!s) return "low.scheme/group_size is not a low-precision scheme";
    if (w.schemes().size() != 1) return "a given low precision makes a pair, not a chain";
    if (!(s->spec() == w.schemes()[0]->spec()))
        return std::string("low is ") + s->name() + ", the writer's scheme is " + w.schemes()[0]->name();
    const struct {
        const void* data;
        size_t size;
        std::vector<uint8_t>* to;
        const char* name;
    } parts[] = {{g.codes, g.codes_size, &out.codes, "codes"},
                 {g.scales, g.scales_size, &out.scales, "scales"},
                 {g.zero_points, g.zero_points_size, &out.zero_points, "zero_points"}};
    for (const auto& p : parts) {
        if (p.size && !p.data) return std::string("low.") + p.name + " is NULL";
        const uint8_t* bytes = static_cast<const uint8_t*>(p.data);
        p.to->assign(bytes, bytes + p.size);
    }
    return "";
}

}  // namespace

extern "C" {

qs_writer_options qs_writer_options_default(void) {
    qs_writer_options o;
    std::memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.low_schemes = nullptr;
    o.exclude = nullptr;
    o.zstd_level = 1;
    return o;
}

qs_status qs_writer_create_e(const char* path, const qs_writer_options* options, qs_writer** out, qs_error* err) {
    if (out) *out = nullptr;
    if (!path || !out) return invalid(err, "qs_writer_create: path and out must not be NULL");
    const qs_writer_options o = options ? *options : qs_writer_options_default();
    qstore::PackOptions p;
    const std::string problem = pack_options(o, p);
    if (!problem.empty()) return invalid(err, std::string("qs_writer_create: ") + path + ": " + problem);
    return guarded(err, [&] {
        auto w = std::make_unique<qs_writer>();
        w->writer = std::make_unique<qstore::Writer>(path, p);
        *out = w.release();
    });
}

qs_status qs_writer_set_metadata_e(qs_writer* writer, const char* key, const char* value, qs_error* err) {
    if (!writer || !key || !value) return invalid(err, "qs_writer_set_metadata: NULL argument");
    if (!writer->writer) return invalid(err, "qs_writer_set_metadata: the writer is finished");
    return guarded(err, [&] { writer->writer->set_metadata(key, value); });
}

qs_status qs_writer_add_tensor_e(qs_writer* writer, const char* name, qs_dtype dtype, uint32_t ndim,
                                 const uint64_t* shape, const void* data, size_t data_size, const qs_given_low* low,
                                 qs_error* err) {
    if (!writer || !name || (ndim && !shape) || (data_size && !data))
        return invalid(err, "qs_writer_add_tensor: NULL argument");
    if (!writer->writer) return invalid(err, std::string("qs_writer_add_tensor: tensor '") + name +
                                                 "': the writer is finished");
    if (ndim > QS_MAX_DIMS)
        return invalid(err, std::string("qs_writer_add_tensor: tensor '") + name + "': more than 8 dimensions");
    if (!qstore::dtype_is_valid(static_cast<uint8_t>(dtype)) || static_cast<int>(dtype) >= qstore::kDTypeCount)
        return invalid(err, std::string("qs_writer_add_tensor: tensor '") + name + "': unknown dtype " +
                                std::to_string(static_cast<int>(dtype)));
    qstore::Writer& w = *writer->writer;
    return guarded(err, [&] {
        qstore::SafetensorsTensor t;
        t.name = name;
        t.dtype = static_cast<qstore::DType>(dtype);
        t.dtype_name = qstore::dtype_name(t.dtype);
        t.shape.assign(shape, shape + ndim);
        t.size = data_size;
        qstore::GivenLowBytes given;
        if (low) {
            const std::string problem = given_low(*low, w, given);
            if (!problem.empty())
                qstore::fail(qstore::Errc::invalid_argument,
                             "qs_writer_add_tensor: tensor '" + std::string(name) + "': " + problem);
        }
        auto fill = [&](uint8_t* dst) {
            if (data_size) std::memcpy(dst, data, data_size);
        };
        w.add_tensor(t, fill, low ? qstore::LowSource::given : qstore::LowSource::quantize, std::move(given));
    });
}

qs_status qs_writer_finish_e(qs_writer* writer, qs_error* err) {
    if (!writer) return invalid(err, "qs_writer_finish: NULL writer");
    if (!writer->writer) return invalid(err, "qs_writer_finish: the writer is finished");
    const qs_status s = guarded(err, [&] { writer->writer->finish(); });
    writer->writer.reset();  // finished, also after a failure: threads and memory go now
    return s;
}

void qs_writer_free(qs_writer* writer) { delete writer; }

}  // extern "C"
