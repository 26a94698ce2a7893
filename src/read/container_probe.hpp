// Where the qstore header of a file lies: at offset 0 in a .qs file, or where the
// `qstore.offset` key of a GGUF or safetensors container says (container/compat.hpp,
// docs/FORMAT.md §11).
#pragma once

#include <cstdint>
#include <string>

#include "container/compat.hpp"
#include "io/byte_source.hpp"

namespace qstore {

struct QstoreLocation {
    ContainerKind kind = ContainerKind::qs;
    uint64_t header_offset = 0;
};

// A file that starts with neither GGUF's magic nor a safetensors header is taken as a
// .qs file (offset 0; its magic is checked by the caller). A GGUF or safetensors file
// without the key, or whose header does not parse, is Errc::not_qstore ("not a qstore
// container"); a damaged key, or an offset inside the foreign header or tensor data, is
// Errc::corrupt
// (Errc::truncated when the file ends before the 64 header bytes), naming the file. The
// caller checks the magic at the offset (container_magic_error).
// `first`: the file's first min(9, size) bytes, which the caller has read.
QstoreLocation locate_qstore_header(const ByteSource& file, const uint8_t* first);
// Errc::corrupt naming `path`: a container's qstore.offset does not hold the qstore magic.
[[noreturn]] void container_magic_error(const std::string& path, const QstoreLocation& where);

}  // namespace qstore
