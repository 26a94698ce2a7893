// qstore_http_get URL OUT BEGIN-END [BEGIN-END ...]
// Reads the byte ranges [BEGIN, END) of URL with qstore's HTTP client (net/), held as
// one batch (merged, split, parallel: HttpSource::hold) and then read back, and writes
// them one after the other to OUT. Prints "requests R bytes B size S" to stdout. For
// tests/http/test_http.py: the client's checks, retries and request counts without
// the .qs reader on top.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "net/http_source.hpp"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s URL OUT BEGIN-END [BEGIN-END ...]\n", argv[0]);
        return 2;
    }
    try {
        std::vector<qstore::net::ByteSpan> spans;
        for (int i = 3; i < argc; ++i) {
            const std::string a = argv[i];
            const size_t dash = a.find('-');
            spans.push_back({std::stoull(a.substr(0, dash)), std::stoull(a.substr(dash + 1))});
        }
        qstore::net::HttpSource source(argv[1], qstore::net::HttpOptions::from_environment(), 1024);
        source.hold(spans, true);
        std::FILE* out = std::fopen(argv[2], "wb");
        if (!out) throw qstore::Error(qstore::Errc::io, std::string(argv[2]) + ": cannot write");
        for (const auto& s : spans) {
            std::vector<uint8_t> bytes(s.end - s.begin);
            source.read_at(s.begin, bytes.data(), bytes.size());
            std::fwrite(bytes.data(), 1, bytes.size(), out);
        }
        std::fclose(out);
        const auto st = source.stats();
        std::printf("requests %llu bytes %llu size %llu\n", (unsigned long long)st.requests,
                    (unsigned long long)st.bytes, (unsigned long long)source.size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore_http_get: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
