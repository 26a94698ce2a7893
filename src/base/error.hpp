// Error handling inside the C++ core: every failure is a qstore::Error carrying a
// status code (mirrors qs_status one to one) and a message that names the file and
// tensor. The C layer (capi/) turns it into a status and a thread-local message.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace qstore {

enum class Errc {
    ok = 0,
    invalid_argument = 1,
    io = 2,
    not_qstore = 3,
    unsupported = 4,
    corrupt = 5,
    truncated = 6,
    not_found = 7,
    buffer_too_small = 8,
    out_of_memory = 9,
    not_available = 10,
    internal = 11,
};

class Error : public std::runtime_error {
public:
    Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
    Errc code() const noexcept { return code_; }

private:
    Errc code_;
};

[[noreturn]] inline void fail(Errc code, const std::string& message) { throw Error(code, message); }

// Runs body; an Error leaving it gets make_context() prefixed to its message ("file.qs:
// tensor 'x': "). The context is built only when an error passes.
template <class MakeContext, class F>
auto with_lazy_context(MakeContext&& make_context, F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const Error& e) {
        throw Error(e.code(), make_context() + e.what());
    }
}

// The same with a context at hand.
template <class F>
auto with_context(const std::string& context, F&& body) -> decltype(body()) {
    return with_lazy_context([&] { return context; }, std::forward<F>(body));
}

}  // namespace qstore
