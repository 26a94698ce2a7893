#include "io/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.hpp"
#include "base/reusable_bytes.hpp"

namespace qstore {

FileSink::FileSink(const std::string& path, bool temporary) : path_(path), sum_(std::make_unique<Checksummer>()) {
    buffer_.reserve(kBufferSize);  // on 2 MiB pages: one page fault, not 256
    if (temporary) {
        std::string dir = std::filesystem::path(path).parent_path().string();
        if (dir.empty()) dir = ".";
        fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd_ < 0) {  // file systems without O_TMPFILE: a named file, unlinked at once
            std::string tmpl = dir + "/.qstore-XXXXXX";
            std::vector<char> buf(tmpl.begin(), tmpl.end());
            buf.push_back('\0');
            fd_ = ::mkstemp(buf.data());
            if (fd_ >= 0) ::unlink(buf.data());
        }
        path_ = path + " (temporary residual file)";
    } else {
        atomic_ = std::make_unique<AtomicFile>(path);
        fd_ = atomic_->fd();
    }
    if (fd_ < 0) {
        fail(Errc::io, path + ": cannot create: " + std::strerror(errno));
    }
}

FileSink::~FileSink() {
    if (fd_ >= 0 && !atomic_) ::close(fd_);  // atomic_ closes (and removes) its own
}

void write_all(int fd, const void* p, size_t n, const std::string& path) {
    const auto* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(Errc::io, path + ": write failed: " + std::strerror(errno));
        }
        b += w;
        n -= static_cast<size_t>(w);
    }
}

void FileSink::write(const void* data, uint64_t size) {
    if (size == 0) return;  // an empty part's bytes may be a null pointer (memcpy's UB)
    sum_->update(data, size);
    position_ += size;
    if (size >= kDirectFrom || buffered_ + size > kBufferSize) flush();
    if (size >= kDirectFrom) {
        write_all(fd_, data, size, path_);
        return;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    std::memcpy(buffer_.data() + buffered_, p, size);
    buffered_ += size;
}

void FileSink::flush() {
    if (buffered_ == 0) return;
    write_all(fd_, buffer_.data(), buffered_, path_);
    buffered_ = 0;
}

void FileSink::pad_to(uint64_t alignment) {
    static const uint8_t zeros[64] = {};
    while (position_ % alignment != 0) {
        uint64_t n = alignment - position_ % alignment;
        write(zeros, n < sizeof(zeros) ? n : sizeof(zeros));
    }
}

void FileSink::restart_checksum() {
    sum_ = std::make_unique<Checksummer>();
}

void FileSink::append_from(FileSink& other) {
    other.flush();
    flush();
    const uint64_t total = other.position_;
    uint64_t done = 0;
    // In the kernel first: no copy through this process (the level sections are most of
    // a file, often many MB). File systems or kernels that cannot (EXDEV, ENOSYS,
    // EOPNOTSUPP, EINVAL) fall back to reading and writing.
    off_t in_offset = 0;
    while (done < total) {
        const ssize_t n = ::copy_file_range(other.fd_, &in_offset, fd_, nullptr, total - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
                fail(Errc::io, path_ + ": copy from " + other.path_ + " failed: " + std::strerror(errno));
            break;
        }
        done += static_cast<uint64_t>(n);
    }
    if (done < total) {
        if (::lseek(other.fd_, static_cast<off_t>(done), SEEK_SET) < 0) fail(Errc::io, other.path_ + ": seek failed");
        ReusableBytes buf;
        constexpr size_t kChunk = size_t{1} << 20;
        uint8_t* const chunk = buf.reserve(kChunk);
        while (done < total) {
            const ssize_t r = ::read(other.fd_, chunk, static_cast<size_t>(std::min<uint64_t>(kChunk, total - done)));
            if (r < 0) {
                if (errno == EINTR) continue;
                fail(Errc::io, other.path_ + ": read failed: " + std::strerror(errno));
            }
            if (r == 0) fail(Errc::io, other.path_ + ": shorter than what was written to it");
            write_all(fd_, chunk, static_cast<size_t>(r), path_);
            done += static_cast<uint64_t>(r);
        }
    }
    position_ += total;
}

void FileSink::write_at(uint64_t offset, const void* data, uint64_t size) {
    flush();
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
        ssize_t w = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(Errc::io, path_ + ": write failed: " + std::strerror(errno));
        }
        p += w;
        offset += static_cast<uint64_t>(w);
        size -= static_cast<uint64_t>(w);
    }
}

void FileSink::close() {
    if (fd_ < 0) return;
    flush();
    if (atomic_) {
        fd_ = -1;
        atomic_->commit();
        return;
    }
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail(Errc::io, path_ + ": close failed: " + std::strerror(errno));
}

}  // namespace qstore
