#include "net/range_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "base/checksum.hpp"
#include "base/error.hpp"
#include "io/atomic_file.hpp"

namespace qstore::net {

namespace {

std::string hex(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

bool make_dir(const std::string& path) { return ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST; }

}  // namespace

RangeCache::RangeCache(const std::string& folder, const std::string& url, const std::string& validator) {
    if (folder.empty() || validator.empty()) return;
    const std::string dir = folder + "/" + hex(checksum(url.data(), url.size())) + "-" +
                            hex(checksum(validator.data(), validator.size()));
    if (!make_dir(folder) || !make_dir(dir)) return;
    dir_ = dir;
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return;
    while (const dirent* e = ::readdir(d)) {
        unsigned long long b = 0, en = 0;
        char tail = 0;
        if (std::sscanf(e->d_name, "%llu-%llu%c", &b, &en, &tail) == 2 && b < en) entries_.push_back({b, en});
    }
    ::closedir(d);
}

std::string RangeCache::path_of(const Entry& e) const {
    return dir_ + "/" + std::to_string(e.begin) + "-" + std::to_string(e.end);
}

bool RangeCache::get(uint64_t begin, uint64_t end, uint8_t* dst) {
    Entry found{0, 0};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Entry& e : entries_)
            if (e.begin <= begin && end <= e.end) found = e;
    }
    if (found.end == 0) return false;
    const int fd = ::open(path_of(found).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == found.end - found.begin;
    uint64_t done = 0;
    while (ok && done < end - begin) {
        const ssize_t n = ::pread(fd, dst + done, static_cast<size_t>(end - begin - done),
                                  static_cast<off_t>(begin - found.begin + done));
        ok = n > 0;
        if (ok) done += static_cast<uint64_t>(n);
    }
    ::close(fd);
    return ok;
}

void RangeCache::put(uint64_t begin, uint64_t end, const uint8_t* bytes) {
    if (dir_.empty() || end <= begin) return;
    const Entry e{begin, end};
    try {
        AtomicFile out(path_of(e));
        uint64_t done = 0;
        while (done < end - begin) {
            const ssize_t n = ::write(out.fd(), bytes + done, static_cast<size_t>(end - begin - done));
            if (n <= 0) return;  // the temporary is removed; the cache just lacks this range
            done += static_cast<uint64_t>(n);
        }
        out.commit();
    } catch (const Error&) {
        return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back(e);
}

}  // namespace qstore::net
