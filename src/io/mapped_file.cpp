#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.hpp"

namespace qstore {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(Errc::io, path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(Errc::io, path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(Errc::io, path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail(Errc::io, path + ": cannot mmap: " + std::strerror(e));
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    fd_ = fd;
}

void MappedFile::read_at(uint64_t offset, uint8_t* dst, size_t n) const {
    if (offset > size_ || n > size_ - offset) fail(Errc::internal, path_ + ": read beyond the end of the file");
    while (n > 0) {
        const ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            fail(Errc::io, path_ + ": cannot read: " + std::strerror(errno));
        }
        if (got == 0) fail(Errc::truncated, path_ + ": truncated: the file shrank while open");
        dst += got;
        offset += static_cast<uint64_t>(got);
        n -= static_cast<size_t>(got);
    }
}

const uint8_t* ReadAhead::get(const ByteSource& file, uint64_t begin, uint64_t end, uint8_t* memory,
                              size_t max_window, uint64_t limit) {
    if (end - begin > max_window) fail(Errc::internal, file.name() + ": read-ahead range larger than its window");
    if (&file != file_ || begin < begin_ || end > end_) {
        const bool forward = &file == file_ && begin >= begin_ && begin <= end_ + size_;
        size_ = forward ? std::min(max_window, 2 * size_) : std::min(kFirstWindow, max_window);
        file_ = nullptr;  // holds nothing if the read fails
        const uint64_t last =
            file.reads_ahead()
                ? std::min<uint64_t>({file.size(), std::max(limit, end), begin + std::max<uint64_t>(size_, end - begin)})
                : end;
        file.read_at(begin, memory, last - begin);
        file_ = &file;
        begin_ = begin;
        end_ = last;
    }
    return memory + (begin - begin_);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace qstore
