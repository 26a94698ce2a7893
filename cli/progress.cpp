#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

Progress::Progress(std::string verb) : verb_(std::move(verb)), tty_(isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(size_t done, size_t total, const std::string& item) {
    if (!tty_) return;
    auto now = std::chrono::steady_clock::now();
    if (shown_ && done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    std::string shown = item.size() > 60 ? "..." + item.substr(item.size() - 57) : item;
    std::fprintf(stderr, "\r\033[K%s [%zu/%zu] %s", verb_.c_str(), done, total, shown.c_str());
    std::fflush(stderr);
}
