// Small helpers shared by the benchmark programs: timing, medians, formatting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace qstore_bench {

// Byte and element counts in ratios and rates (exact below 2^53, far above any model).
inline double to_double(uint64_t v) { return static_cast<double>(v); }

inline double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline unsigned hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

// "model name" of the first CPU in /proc/cpuinfo, or "unknown".
inline std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto p = line.find(':');
            if (p != std::string::npos) {
                std::string s = line.substr(p + 1);
                while (!s.empty() && s.front() == ' ') s.erase(s.begin());
                return s;
            }
        }
    }
    return "unknown";
}

inline std::string format(const char* fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
}

}  // namespace qstore_bench
