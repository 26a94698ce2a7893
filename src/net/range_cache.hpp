// A folder of byte ranges fetched from web servers, so that loading the same file
// again fetches nothing but the opening request. Entries are keyed by the URL the user
// named and the validator the server gave at open (the ETag, else Last-Modified): a
// file replaced on the server has another key, and a server that gives no validator
// is not cached. Each range is one file, "<folder>/<key>/<begin>-<end>", written
// atomically (io/atomic_file), so that a reader never sees half an entry; a range is
// served from any entry that contains it. Damaged entries (a wrong length) are
// ignored; the data's own checksums are checked by the reader as for any source.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace qstore::net {

class RangeCache {
public:
    // `folder` is created if missing; errors in the cache never fail a load (a cache that
    // cannot be read or written is skipped).
    RangeCache(const std::string& folder, const std::string& url, const std::string& validator);

    // Copies [begin, end) into dst if an entry holds it.
    bool get(uint64_t begin, uint64_t end, uint8_t* dst);
    void put(uint64_t begin, uint64_t end, const uint8_t* bytes);

private:
    struct Entry {
        uint64_t begin, end;
    };
    std::string path_of(const Entry& e) const;

    std::string dir_;  // "<folder>/<key>", empty when unusable
    std::mutex mutex_;
    std::vector<Entry> entries_;
};

}  // namespace qstore::net
