// Shared by the file-reader fuzz targets (fuzz_safetensors, fuzz_index, fuzz_gguf,
// fuzz_low): the readers take paths, so every input is written to files in a temp
// folder of this process (/dev/shm if present, else $TMPDIR or /tmp), removed at exit.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <typeinfo>

#include "base/error.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include <vector>

namespace qs_fuzz {

inline const std::string& temp_dir() {
    static const std::string dir = [] {
        const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        std::string t = std::string(base) + "/qs-fuzz-XXXXXX";
        if (!mkdtemp(t.data())) {
            perror("mkdtemp");
            abort();
        }
        static std::string keep = t;
        atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(keep, ec);
        });
        return t;
    }();
    return dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = temp_dir() + "/" + name;
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path.c_str());
        abort();
    }
    size_t done = 0;
    while (done < size) {
        const ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            perror("write");
            abort();
        }
        done += static_cast<size_t>(n);
    }
    close(fd);
    return path;
}

inline bool debug() {
    static const bool d = getenv("QS_FUZZ_DEBUG") != nullptr;
    return d;
}

// Runs body. A qstore::Error is the expected way to refuse an input. Any other exception
// is printed with QS_FUZZ_DEBUG=1 and aborts with QS_FUZZ_STRICT=1 (the C API turns
// those into QS_ERR_INTERNAL; the readers are meant to throw qstore::Error only).
template <class F>
void guarded(F&& body) {
    static const bool strict = getenv("QS_FUZZ_STRICT") != nullptr;
    try {
        body();
    } catch (const qstore::Error& e) {
        if (debug()) fprintf(stderr, "qstore::Error %d: %s\n", static_cast<int>(e.code()), e.what());
    } catch (const std::exception& e) {
        if (debug() || strict) fprintf(stderr, "other exception %s: %s\n", typeid(e).name(), e.what());
        if (strict) abort();
    }
}

// Reads every byte of [p, p + n) (the mapping must hold them): sums them so that the
// loads are not optimized out.
inline void touch(const uint8_t* p, uint64_t n) {
    volatile uint8_t sink = 0;
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; ++i) acc ^= p[i];
    sink = acc;
    (void)sink;
}

// Uses everything a SafetensorsReader hands out, as the packer does: each tensor's
// fields, find() by name, its bytes through the mapping, through read() (pread) into an
// exactly sized heap buffer and through a read-ahead window.
inline void exercise(const qstore::SafetensorsReader& r) {
    constexpr uint64_t kMaxBytes = uint64_t{16} << 20;  // per input; the files are small
    uint64_t budget = kMaxBytes;
    for (const auto& [k, v] : r.metadata()) {
        touch(reinterpret_cast<const uint8_t*>(k.data()), k.size());
        touch(reinterpret_cast<const uint8_t*>(v.data()), v.size());
    }
    (void)r.header_bytes();
    (void)r.file_bytes();
    qstore::ReadAhead ahead;
    constexpr size_t kWindow = size_t{64} << 10;
    std::vector<uint8_t> window(kWindow);
    for (const qstore::SafetensorsTensor& t : r.tensors()) {
        if (r.find(t.name) == nullptr) abort();  // every listed tensor is found by its name
        (void)t.num_elements();
        if (t.size > budget) continue;
        budget -= t.size;
        touch(t.data, t.size);
        std::vector<uint8_t> copy(t.size);
        r.read(t, copy.data());
        if (t.size && memcmp(copy.data(), t.data, t.size) != 0) abort();  // pread = mapping
        if (t.size <= kWindow) {
            const uint8_t* w = r.read(t, ahead, window.data(), kWindow);
            if (t.size && memcmp(w, t.data, t.size) != 0) abort();
        }
    }
}

}  // namespace qs_fuzz
