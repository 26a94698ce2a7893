// The qs_file handle behind the C API, and the argument checks every group of functions shares.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "errors.hpp"
#include "qstore/qstore.h"
#include "read/reader.hpp"

struct qs_file {
    template <class Source>
    qs_file(Source&& source, const qstore::ReaderOptions& o) : reader(std::forward<Source>(source), o) {}
    qstore::Reader reader;
};

namespace qstore_capi {

inline bool valid_tensor(const qs_file* f, size_t index) { return f && index < f->reader.tensor_count(); }

// Reports "fn: NULL file or index out of range" unless `index` names a tensor of `file`.
inline bool check_tensor(const qs_file* file, size_t index, qs_error* err, const char* fn, qs_status* status) {
    if (valid_tensor(file, index)) return true;
    *status = report(err, QS_ERR_INVALID_ARGUMENT, std::string(fn) + ": NULL file or index out of range");
    return false;
}

// The reader options of `options` (NULL: the defaults); false after reporting a bad struct
// (messages name the function `fn`).
bool reader_options(const qs_open_options* options, const char* fn, qs_error* err, qstore::ReaderOptions* out,
                    qs_status* status);

// Level `level` of tensor `t` as qs_level_info describes it (level < t.levels.size()).
qs_level_info level_info_of(const qstore::Reader& r, const qstore::TensorRecord& t, uint32_t level);
// Copies `out` into the caller's struct: every size from 1.1's on (later 1.x versions only
// append fields; a caller gets those its struct_size covers).
void copy_level_info(qs_level_info out, qs_level_info* info);
// False after reporting a struct_size smaller than 1.1's.
bool check_level_info_size(const qs_level_info* info, const char* fn, qs_error* err, qs_status* status);

// The message for a level that tensor `t` does not have.
inline std::string missing_level(const qstore::Reader& r, const qstore::TensorRecord& t, uint32_t level) {
    return r.path() + ": tensor '" + t.name + "': level " + std::to_string(level) + " does not exist (it has " +
           std::to_string(t.levels.size()) + ")";
}

}  // namespace qstore_capi
