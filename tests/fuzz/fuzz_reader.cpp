// libFuzzer target for the qstore reader (developer tool, see README.md).
//
// Input layout: byte 0 = mode, bytes 1.. = the .qs file.
//   mode bit 0: verify_checksums (1 = on, 0 = off)
//   mode bit 1: fix up checksums before opening: header checksum, every section's
//               checksum in its directory entry, the directory checksum. Part
//               checksums (inside the tensor index) are not fixed: use bit 0 = 0.
//   mode bit 2: with bit 1, also set header.file_size to the real size.
// The file is written to a memfd and opened through /proc/self/fd/N (the reader
// mmaps a path). Statuses are ignored: we look for crashes, sanitizer reports,
// timeouts and OOMs.
#include <qstore/qstore.h>

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr uint64_t kMaxTotal = 64ull << 20;  // skip tensors claiming more than this

uint64_t ld(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
}
void st64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}

void fix_checksums(std::vector<uint8_t>& f, bool fix_size) {
    if (f.size() < 64) return;
    if (fix_size) st64(f.data() + 16, f.size());
    const uint64_t dir_off = ld(f.data() + 24, 8);
    const uint64_t dir_count = ld(f.data() + 32, 4);
    if (dir_count <= 4096 && dir_off <= f.size() && dir_count * 48 + 8 <= f.size() - dir_off) {
        uint8_t* d = f.data() + dir_off;
        for (uint64_t i = 0; i < dir_count; ++i) {
            uint8_t* e = d + 48 * i;
            const uint64_t off = ld(e + 16, 8), sz = ld(e + 24, 8);
            if (off <= f.size() && sz <= f.size() - off) st64(e + 40, XXH3_64bits(f.data() + off, sz));
        }
        st64(d + 48 * dir_count, XXH3_64bits(d, 48 * dir_count));
    }
    st64(f.data() + 56, XXH3_64bits(f.data(), 56));
}

// Known findings that would otherwise mask everything else (see README.md, "Findings").
// With QS_FUZZ_SKIP_KNOWN=1 in the environment, inputs that trigger them are skipped.
bool triggers_known(const std::vector<uint8_t>& f) {
    if (f.size() < 64) return false;
    const uint64_t dir_off = ld(f.data() + 24, 8);
    const uint64_t dir_count = ld(f.data() + 32, 4);
    if (dir_count > 4096 || dir_off > f.size() || dir_count * 48 + 8 > f.size() - dir_off) return false;
    for (uint64_t i = 0; i < dir_count; ++i) {
        const uint8_t* e = f.data() + dir_off + 48 * i;
        // crashes/oom-section-raw-size: a ZSTD section's raw_size is allocated before decompressing.
        if ((ld(e + 4, 4) & 2) && ld(e + 32, 8) > (64u << 20)) return true;
    }
    return false;
}

int memfd() {
    static int fd = -1;
    if (fd < 0) {
        fd = memfd_create("qs_fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
    }
    return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    std::vector<uint8_t> file(data + 1, data + size);
    if (mode & 2) fix_checksums(file, mode & 4);
    static const bool skip_known = getenv("QS_FUZZ_SKIP_KNOWN") != nullptr;
    if (skip_known && triggers_known(file)) return 0;

    const int fd = memfd();
    if (ftruncate(fd, 0) != 0) abort();
    if (!file.empty() && pwrite(fd, file.data(), file.size(), 0) != (ssize_t)file.size()) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    qs_open_options opt = qs_open_options_default();
    opt.num_threads = 1;
    opt.verify_checksums = mode & 1;
    static const bool debug = getenv("QS_FUZZ_DEBUG") != nullptr;  // print statuses
    qs_file* qf = nullptr;
    const qs_status os = qs_open_ex(path, &opt, &qf);
    if (debug) fprintf(stderr, "open: %d %s\n", os, os ? qs_last_error_message() : "");
    if (os != QS_OK) {
        if (qf) abort();  // must stay NULL on failure
        return 0;
    }
    const size_t n = qs_tensor_count(qf);
    uint64_t budget = kMaxTotal;
    bool claims_huge = false;
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (qs_tensor_info_get(qf, i, &info) != QS_OK) continue;
        if (info.name) (void)strlen(info.name);
        size_t idx;
        if (info.name) (void)qs_find_tensor(qf, info.name, &idx);

        const uint64_t need = info.low_code_bytes + info.low_scale_bytes + info.high_bytes;
        if (info.low_code_bytes > budget || info.low_scale_bytes > budget || info.high_bytes > budget ||
            need > budget) {
            claims_huge = true;
            continue;
        }
        budget -= need;
        // Exactly sized heap buffers so ASan catches any overrun.
        void* codes = malloc(info.low_code_bytes ? info.low_code_bytes : 1);
        void* scales = malloc(info.low_scale_bytes ? info.low_scale_bytes : 1);
        void* high = malloc(info.high_bytes ? info.high_bytes : 1);
        (void)qs_load_low(qf, i, info.low_code_bytes ? codes : nullptr, info.low_code_bytes,
                          info.low_scale_bytes ? scales : nullptr, info.low_scale_bytes);
        const void* vc = nullptr;
        const void* vs = nullptr;
        if (qs_view_low(qf, i, &vc, &vs) == QS_OK) {
            // Touch the first and last byte of each view: they must be inside the mapping.
            volatile uint8_t sink = 0;
            if (vc && info.low_code_bytes) {
                sink ^= static_cast<const uint8_t*>(vc)[0];
                sink ^= static_cast<const uint8_t*>(vc)[info.low_code_bytes - 1];
            }
            if (vs && info.low_scale_bytes) {
                sink ^= static_cast<const uint8_t*>(vs)[0];
                sink ^= static_cast<const uint8_t*>(vs)[info.low_scale_bytes - 1];
            }
            (void)sink;
        }
        // Every level of a chain (and level 0's zero points) through qs_load_level.
        for (uint32_t level = 0; level + 1 < info.num_levels; ++level) {
            qs_level_info li;
            memset(&li, 0, sizeof li);
            li.struct_size = sizeof li;
            if (qs_level_info_get(qf, i, level, &li) != QS_OK) continue;
            const uint64_t lneed = li.code_bytes + li.scale_bytes + li.zero_point_bytes;
            if (li.code_bytes > budget || li.scale_bytes > budget || li.zero_point_bytes > budget || lneed > budget) {
                claims_huge = true;
                continue;
            }
            void* lc = malloc(li.code_bytes ? li.code_bytes : 1);
            void* ls = malloc(li.scale_bytes ? li.scale_bytes : 1);
            void* lz = malloc(li.zero_point_bytes ? li.zero_point_bytes : 1);
            (void)qs_load_level(qf, i, level, li.code_bytes ? lc : nullptr, li.code_bytes,
                                li.scale_bytes ? ls : nullptr, li.scale_bytes, li.zero_point_bytes ? lz : nullptr,
                                li.zero_point_bytes);
            free(lc);
            free(ls);
            free(lz);
        }
        const qs_status hs = qs_load_high(qf, i, info.high_bytes ? high : nullptr, info.high_bytes);
        if (debug) fprintf(stderr, "tensor %zu %s: load_high %d %s\n", i, info.name, hs, hs ? qs_last_error_message() : "");
        free(codes);
        free(scales);
        free(high);
    }
    // crashes/oom-verify-claimed-shape: qs_verify allocates what the shapes claim before
    // checking them against the stored sizes.
    const qs_status vs = skip_known && claims_huge ? QS_OK : qs_verify(qf);
    if (debug) fprintf(stderr, "verify: %d %s\n", vs, vs ? qs_last_error_message() : "");
    qs_close(qf);
    return 0;
}
