#include "base/input_checks.hpp"

#include <algorithm>
#include <cstdio>

#include "base/error.hpp"

namespace qstore {

namespace {

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the UTF-8 sequence starting at p (left bytes available), or 0 if it is not
// a valid one. The first byte decides the length and the range its second byte may
// take (RFC 3629 §4): that rules out overlong forms, surrogates and code points above
// U+10FFFF.
size_t utf8_sequence(const unsigned char* p, size_t left) {
    const unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (left < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (!continuation(p[k])) return 0;
    return n;
}

}  // namespace

std::string name_problem(const std::string& name) {
    const auto* p = reinterpret_cast<const unsigned char*>(name.data());
    for (size_t i = 0; i < name.size();) {
        if (p[i] == 0) return "holds a NUL byte at " + std::to_string(i);
        const size_t n = utf8_sequence(p + i, name.size() - i);
        if (n == 0) return "is not valid UTF-8 at byte " + std::to_string(i);
        i += n;
    }
    return "";
}

std::string printable_name(const std::string& name) {
    const auto* p = reinterpret_cast<const unsigned char*>(name.data());
    std::string out;
    for (size_t i = 0; i < name.size();) {
        const size_t n = utf8_sequence(p + i, name.size() - i);
        if (n == 0 || p[i] < 0x20 || p[i] == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(p[i]));
            out += buf;
            ++i;
        } else {
            out.append(name, i, n);
            i += n;
        }
    }
    return out;
}

void check_name(const std::string& name, const std::string& context, const char* field) {
    const std::string problem = name_problem(name);
    if (!problem.empty())
        fail(Errc::corrupt, context + field + " '" + printable_name(name) + "' " + problem +
                                " (names must be UTF-8 without NUL)");
}

void check_safetensors_tiling(std::vector<DataRange> ranges, uint64_t data_size, const std::string& file) {
    std::sort(ranges.begin(), ranges.end(), [](const DataRange& a, const DataRange& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expected = 0;  // where the next tensor must begin
    for (const DataRange& r : ranges) {
        // Built only for an error: this runs for every tensor of the file.
        const auto what = [&] {
            return file + ": tensor '" + printable_name(r.name) + "': data_offsets [" + std::to_string(r.begin) +
                   ", " + std::to_string(r.end) + "] ";
        };
        if (r.end < r.begin) fail(Errc::corrupt, what() + "end before they begin");
        if (r.begin != expected)
            fail(Errc::corrupt, what() + (r.begin < expected ? "overlap the tensor before" : "leave a gap") +
                                    " (by offset, tensors must follow each other from byte " +
                                    std::to_string(expected) + ")");
        expected = r.end;
    }
    if (expected != data_size)
        fail(Errc::corrupt, file + ": the tensors cover " + std::to_string(expected) + " of the " +
                                std::to_string(data_size) + " data bytes (they must cover all of them)");
}

}  // namespace qstore
