// A one-line progress display on stderr, shown only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

class Progress {
public:
    explicit Progress(std::string verb);
    ~Progress();
    void update(size_t done, size_t total, const std::string& item);

private:
    std::string verb_;
    bool tty_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_;
};
