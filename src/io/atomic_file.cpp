#include "io/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/error.hpp"

namespace qstore {

namespace {

std::string parent_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string errno_text() { return std::strerror(errno); }

// "<pid>-<16 hex digits>" after the prefix, nothing else: the pid, or 0 if not ours.
pid_t temp_owner(const char* rest) {
    char* end = nullptr;
    const long pid = std::strtol(rest, &end, 10);
    if (end == rest || pid <= 0 || *end != '-') return 0;
    const char* hex = end + 1;
    size_t n = 0;
    while (std::isxdigit(static_cast<unsigned char>(hex[n]))) ++n;
    return n == 16 && hex[n] == '\0' ? static_cast<pid_t>(pid) : 0;
}

std::string random_hex() {
    std::random_device rd;  // getrandom(2): no clash between processes started together
    const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

std::string resolve_output_link(const std::string& target) {
    std::string p = target;
    for (int hops = 0; hops < 40; ++hops) {  // 40: the kernel's own limit (ELOOP)
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
        std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096) + 1);
        const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
        if (n < 0) return p;
        std::string link(buf.data(), static_cast<size_t>(n));
        p = link.front() == '/' ? link : parent_of(p) + "/" + link;
    }
    fail(Errc::invalid_argument, target + ": too many levels of symbolic links");
}

std::string atomic_temp_prefix(const std::string& base_name) {
    // NAME_MAX 255 = '.' + name + ".qstore-tmp-" (12) + pid (<= 10) + '-' + 16 hex.
    return "." + base_name.substr(0, 200) + ".qstore-tmp-";
}

void check_output_path(const std::string& target, const std::vector<std::string>& inputs) {
    if (target.empty()) fail(Errc::invalid_argument, "the output path is empty");
    const std::string final_path = resolve_output_link(target);
    const std::string folder = parent_of(final_path);
    struct stat fst;
    if (::stat(folder.c_str(), &fst) != 0)
        fail(Errc::io, target + ": cannot write to folder " + folder + ": " + errno_text());
    if (!S_ISDIR(fst.st_mode)) fail(Errc::invalid_argument, target + ": " + folder + " is not a folder");
    if (::access(folder.c_str(), W_OK | X_OK) != 0)
        fail(Errc::io, target + ": cannot write to folder " + folder + ": " + errno_text());
    struct stat out;
    if (::stat(final_path.c_str(), &out) != 0) return;  // a new file: no input can be it
    if (S_ISDIR(out.st_mode)) fail(Errc::invalid_argument, target + ": is a directory; give a file name");
    if (!S_ISREG(out.st_mode)) fail(Errc::invalid_argument, target + ": is not a regular file");
    // A model's tensors name their file each: every distinct path is looked up once.
    std::unordered_set<std::string_view> seen;
    for (const std::string& in : inputs) {
        struct stat ist;
        if (in.empty() || !seen.insert(in).second || ::stat(in.c_str(), &ist) != 0) continue;
        if (ist.st_dev == out.st_dev && ist.st_ino == out.st_ino)
            fail(Errc::invalid_argument, target + ": is the same file as the input " + in +
                                             "; writing it would destroy the input (choose another output name)");
    }
}

AtomicFile::AtomicFile(const std::string& target)
    : target_(target), final_(resolve_output_link(target)), folder_(parent_of(final_)) {
    check_output_path(target);
    remove_stale_temporaries();
    const std::string prefix = folder_ + "/" + atomic_temp_prefix(base_of(final_)) + std::to_string(::getpid()) + "-";
    for (int attempt = 0; fd_ < 0; ++attempt) {
        temp_ = prefix + random_hex();
        fd_ = ::open(temp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);  // the umask applies
        if (fd_ < 0 && (errno != EEXIST || attempt == 16))
            fail(Errc::io, target + ": cannot create a temporary file in " + folder_ + ": " + errno_text());
    }
    struct stat old;
    if (::stat(final_.c_str(), &old) == 0 && ::fchmod(fd_, old.st_mode & 07777) != 0) {
        const std::string why = errno_text();
        ::close(fd_);
        ::unlink(temp_.c_str());
        fd_ = -1;
        fail(Errc::io, target + ": cannot give the new file the old one's permissions: " + why);
    }
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::commit() {
    if (fd_ < 0) fail(Errc::internal, target_ + ": committed twice or after a failure");
    if (::fsync(fd_) != 0) fail(Errc::io, target_ + ": cannot write the file to disk (fsync): " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(Errc::io, target_ + ": close failed: " + errno_text());
    if (::rename(temp_.c_str(), final_.c_str()) != 0)
        fail(Errc::io, target_ + ": cannot rename " + temp_ + " over it: " + errno_text());
    renamed_ = true;
    // The rename is durable only once the folder is synced.
    const int dir = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = dir >= 0 && ::fsync(dir) == 0;
    const std::string why = errno_text();
    if (dir >= 0) ::close(dir);
    if (!synced)
        fail(Errc::io, target_ + ": written, but its folder " + folder_ + " could not be synced: " + why);
}

// Temporaries of this target whose process is gone (killed before commit or cleanup).
void AtomicFile::remove_stale_temporaries() const {
    DIR* d = ::opendir(folder_.c_str());
    if (!d) return;
    const std::string prefix = atomic_temp_prefix(base_of(final_));
    while (const dirent* e = ::readdir(d)) {
        if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
        const pid_t pid = temp_owner(e->d_name + prefix.size());
        if (pid == 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // running (or not ours to ask): keep
        ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
}

}  // namespace qstore
