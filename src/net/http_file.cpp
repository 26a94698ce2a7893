#include "net/http_file.hpp"

#include <algorithm>
#include <chrono>

#include "base/error.hpp"
#include "net/curl_library.hpp"
#include "net/url.hpp"

namespace qstore::net {

namespace {

using Clock = std::chrono::steady_clock;

void lock_share(CURL*, curl_lock_data data, curl_lock_access, void* locks) {
    static_cast<std::mutex*>(locks)[data].lock();
}

void unlock_share(CURL*, curl_lock_data data, void* locks) { static_cast<std::mutex*>(locks)[data].unlock(); }

// A multi handle that lets go of the transfers still added when it is left early.
class Multi {
public:
    Multi() : m_(curl().multi_init()) {
        if (!m_) fail(Errc::out_of_memory, "cannot create a curl multi handle");
    }
    ~Multi() {
        for (CURL* e : added_) curl().multi_remove_handle(m_, e);
        curl().multi_cleanup(m_);
    }
    Multi(const Multi&) = delete;
    Multi& operator=(const Multi&) = delete;
    CURLM* get() const { return m_; }
    void add(CURL* e) {
        curl().multi_add_handle(m_, e);
        added_.push_back(e);
    }
    void remove(CURL* e) {
        curl().multi_remove_handle(m_, e);
        added_.erase(std::find(added_.begin(), added_.end(), e));
    }

private:
    CURLM* m_;
    std::vector<CURL*> added_;
};

}  // namespace

struct HttpFile::Job {
    uint64_t begin = 0, end = 0;
    uint8_t* dst = nullptr;
    unsigned attempts = 0;
    Clock::time_point not_before{};
    std::unique_ptr<RangeTransfer> transfer;
};

HttpFile::HttpFile(const std::string& url, const HttpOptions& options, uint64_t first_bytes) : options_(options) {
    curl();  // loaded now: a URL that cannot be opened fails here, not on its first read
    setup_.url = url;
    setup_.name = redact_url(url);
    setup_.options = &options_;
    origin_ = url_origin(url);
    if (!options_.token.empty()) setup_.auth_header = "Authorization: Bearer " + options_.token;
    share_.reset(curl().share_init());
    CURLSH* share = share_.get();
    if (!share) fail(Errc::out_of_memory, setup_.name + ": cannot create a curl share handle");
    curl().share_setopt(share, CURLSHOPT_LOCKFUNC, &lock_share);
    curl().share_setopt(share, CURLSHOPT_UNLOCKFUNC, &unlock_share);
    curl().share_setopt(share, CURLSHOPT_USERDATA, static_cast<void*>(share_locks_));
    curl().share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl().share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl().share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    setup_.share = share;
    first_.resize(std::max<uint64_t>(first_bytes, 1));
    std::vector<Job> jobs(1);
    jobs[0].end = first_.size();
    jobs[0].dst = first_.data();
    run(jobs, true);
}

void HttpFile::check_range(uint64_t begin, uint64_t end) const {
    if (begin > end || end > setup_.size)
        fail(Errc::truncated, setup_.name + ": bytes " + std::to_string(begin) + ".." + std::to_string(end) +
                                  " lie beyond the end of the file (" + std::to_string(setup_.size) + " bytes)");
}

void HttpFile::read_at(uint64_t offset, uint8_t* dst, size_t n) {
    if (n == 0) return;
    check_range(offset, offset + n);
    std::vector<Job> jobs(1);
    jobs[0].begin = offset;
    jobs[0].end = offset + n;
    jobs[0].dst = dst;
    run(jobs, false);
}

void HttpFile::read_ranges(const std::vector<RangeRead>& ranges) {
    std::vector<Job> jobs;
    for (const RangeRead& r : ranges) {
        if (r.begin == r.end) continue;
        check_range(r.begin, r.end);
        jobs.emplace_back();
        jobs.back().begin = r.begin;
        jobs.back().end = r.end;
        jobs.back().dst = r.dst;
    }
    if (!jobs.empty()) run(jobs, false);
}

// Runs the jobs on up to options_.connections transfers at once. A job whose transfer
// asks for a retry waits first_backoff_ms, doubled after each try, then starts anew
// (its bytes are written again from the start of its range).
void HttpFile::run(std::vector<Job>& jobs, bool opening) {
    Multi multi;
    std::vector<size_t> waiting(jobs.size());
    for (size_t k = 0; k < jobs.size(); ++k) waiting[k] = k;
    size_t active = 0, finished = 0;
    const size_t connections = std::max(1u, options_.connections);
    while (finished < jobs.size()) {
        const Clock::time_point now = Clock::now();
        for (auto it = waiting.begin(); it != waiting.end() && active < connections;) {
            Job& j = jobs[*it];
            if (j.not_before > now) {
                ++it;
                continue;
            }
            j.transfer = std::make_unique<RangeTransfer>(setup_, j.begin, j.end, j.dst, opening);
            curl().easy_setopt(j.transfer->easy(), CURLOPT_PRIVATE, static_cast<void*>(&j));
            multi.add(j.transfer->easy());
            ++j.attempts;
            ++requests_;
            ++active;
            it = waiting.erase(it);
        }
        int running = 0;
        curl().multi_perform(multi.get(), &running);
        int left = 0;
        while (CURLMsg* msg = curl().multi_info_read(multi.get(), &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            void* priv = nullptr;
            curl().easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            Job& j = *static_cast<Job*>(priv);
            const Outcome outcome = j.transfer->finish(msg->data.result);
            bytes_ += j.transfer->received();
            multi.remove(j.transfer->easy());
            --active;
            if (outcome == Outcome::done) {
                if (opening) {
                    setup_.size = j.transfer->total_size();
                    setup_.pinned = j.transfer->validators();
                    setup_.url = j.transfer->effective_url();
                    if (url_origin(setup_.url) != origin_) setup_.auth_header.clear();
                    first_.resize(static_cast<size_t>(j.transfer->received()));
                }
                j.transfer.reset();
                ++finished;
            } else if (outcome == Outcome::retry && j.attempts < options_.max_attempts) {
                const unsigned shift = std::min(j.attempts - 1, 16u);
                const uint64_t wait = std::min<uint64_t>(uint64_t{options_.first_backoff_ms} << shift,
                                                         options_.max_backoff_ms);
                j.not_before = Clock::now() + std::chrono::milliseconds(wait);
                j.transfer.reset();
                waiting.push_back(static_cast<size_t>(&j - jobs.data()));
            } else {
                const std::string why = j.transfer->message();
                fail(Errc::io, setup_.name + ": " + why +
                                   (outcome == Outcome::retry ? " (gave up after " + std::to_string(j.attempts) + " tries)"
                                                              : ""));
            }
        }
        if (finished == jobs.size()) break;
        int wait_ms = 100;
        if (active == 0 && !waiting.empty()) {
            Clock::time_point soonest = jobs[waiting[0]].not_before;
            for (size_t k : waiting) soonest = std::min(soonest, jobs[k].not_before);
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - Clock::now()).count();
            wait_ms = static_cast<int>(std::clamp<long long>(ms, 1, 100));
        }
        curl().multi_poll(multi.get(), nullptr, 0, wait_ms, nullptr);
    }
}

}  // namespace qstore::net
