// Thread safety: one qs_file handle (qs_open_ex, 2 worker threads) shared by 8
// std::threads that load the same and different tensors, high and low, over and over;
// every result must be byte-equal to the expected data. Also: qs_last_error_message is
// per thread.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <numeric>
#include <thread>

#include "qs_util.hpp"
#include "read/reader.hpp"

using namespace qs_test;
using qstore::DType;

namespace {

struct Expected {
    std::vector<std::vector<uint8_t>> high, codes, scales;
};

std::vector<Tensor> thread_model() {
    Gen g(2024);
    std::vector<Tensor> m;
    m.push_back(g.float_tensor("a.weight", DType::f32, {256, 300}));
    m.push_back(g.float_tensor("b.weight", DType::bf16, {512, 128}));
    m.push_back(g.float_tensor("c.weight", DType::f16, {100, 7, 33}));
    m.push_back(g.float_tensor("d.weight", DType::f32, {3, 4000}));
    m.push_back(g.float_tensor("norm", DType::bf16, {300}));
    m.push_back(g.random_tensor("ids", DType::i64, {40, 3}));
    m.push_back(g.float_tensor("e.weight", DType::bf16, {1000, 20}));
    return m;
}

}  // namespace

TEST_CASE("one handle, 8 threads, concurrent high and low loads are all exact", "[threads]") {
    const bool low_raw = GENERATE(false, true);
    const unsigned handle_threads = GENERATE(2u, 1u, 0u);
    CAPTURE(low_raw, handle_threads);
    const std::vector<Tensor> model = thread_model();
    TempDir dir;
    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = 4096;  // many blocks per tensor, so the handle's pool is used
    o.threads = 2;
    pack_model(dir, model, "t.qs", o);

    Expected ex;
    for (const auto& t : model) {
        ex.high.push_back(t.bytes);
        if (t.shape.size() >= 2 && t.dtype != DType::i64) {
            LowRef r = ref_quantize(t);
            ex.codes.push_back(as_bytes(r.codes));
            ex.scales.push_back(as_bytes(r.scales));
        } else {
            ex.codes.push_back(t.bytes);
            ex.scales.push_back({});
        }
    }

    qs_status st;
    FilePtr f = open_qs(dir.file("t.qs"), &st, handle_threads);
    REQUIRE(st == QS_OK);
    REQUIRE(qs_tensor_count(f.get()) == model.size());
    for (size_t i = 0; i < model.size(); ++i) REQUIRE(std::string(tensor_info(f.get(), i).name) == model[i].name);

    constexpr int kThreads = 8;
    constexpr int kIterations = 200;
    std::atomic<int> failures{0};
    std::atomic<int> loads{0};
    std::mutex msg_mutex;
    std::string first_failure;
    auto report = [&](const std::string& m) {
        if (failures++ == 0) {
            std::lock_guard<std::mutex> lock(msg_mutex);
            first_failure = m;
        }
    };
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            std::mt19937_64 rng(static_cast<uint64_t>(t) * 31 + 1);
            std::vector<uint8_t> high, codes, scales;
            for (int it = 0; it < kIterations; ++it) {
                // Half the threads hammer the same tensor; the others pick at random.
                const size_t i = (t % 2 == 0 && it % 2 == 0) ? 1 : static_cast<size_t>(rng() % model.size());
                const std::string where = "thread " + std::to_string(t) + " iteration " + std::to_string(it) + " tensor " +
                                          model[i].name + ": ";
                if (rng() % 2) {
                    high.assign(ex.high[i].size(), 0xCC);
                    const qs_status s = qs_load_high(f.get(), i, high.data(), high.size());
                    if (s != QS_OK) report(where + "qs_load_high: " + qs_last_error_message());
                    else if (high != ex.high[i]) report(where + "qs_load_high returned wrong bytes");
                    else if (qs_last_error_message()[0] != '\0') report(where + "error message left after success");
                } else {
                    codes.assign(ex.codes[i].size(), 0xCC);
                    scales.assign(ex.scales[i].size(), 0xCC);
                    const qs_status s = qs_load_low(f.get(), i, codes.data(), codes.size(),
                                                    scales.empty() ? nullptr : scales.data(), scales.size());
                    if (s != QS_OK) report(where + "qs_load_low: " + qs_last_error_message());
                    else if (codes != ex.codes[i] || scales != ex.scales[i])
                        report(where + "qs_load_low returned wrong bytes");
                }
                if (low_raw && it % 5 == 0) {
                    const void* c = nullptr;
                    const void* s = nullptr;
                    if (qs_view_low(f.get(), i, &c, &s) != QS_OK) report(where + "qs_view_low failed");
                    else if (first_mismatch(c, ex.codes[i].size(), ex.codes[i].data(), ex.codes[i].size()) != -1)
                        report(where + "qs_view_low shows wrong bytes");
                }
                // Errors on this thread must not leak into other threads' messages.
                if (t == kThreads - 1 && it % 3 == 0) {
                    size_t idx;
                    const std::string missing = "no-such-tensor-" + std::to_string(it);
                    if (qs_find_tensor(f.get(), missing.c_str(), &idx) != QS_ERR_NOT_FOUND)
                        report(where + "qs_find_tensor found a missing tensor");
                    else if (std::string(qs_last_error_message()).find(missing) == std::string::npos)
                        report(where + "message does not name the missing tensor: " + qs_last_error_message());
                }
                ++loads;
            }
        });
    }
    go = true;
    for (auto& th : threads) th.join();
    INFO(first_failure);
    CHECK(failures.load() == 0);
    CHECK(loads.load() == kThreads * kIterations);
    CHECK(qs_verify(f.get()) == QS_OK);
}

TEST_CASE("many handles opened and closed concurrently", "[threads]") {
    const std::vector<Tensor> model = small_model(12);
    TempDir dir;
    qstore::PackOptions o;
    o.block_elements = 64;
    pack_model(dir, model, "s.qs", o);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int it = 0; it < 25; ++it) {
                FilePtr f = open_qs(dir.file("s.qs"), nullptr, static_cast<unsigned>(1 + (t + it) % 3));
                if (!f) {
                    ++failures;
                    continue;
                }
                for (size_t i = 0; i < model.size(); ++i) {
                    std::vector<uint8_t> h;
                    if (load_high(f.get(), i, h) != QS_OK || h != model[i].bytes) ++failures;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
}

TEST_CASE("qs_load_high_many and qs_load_low_many decode many tensors in parallel, exactly", "[threads]") {
    const unsigned handle_threads = GENERATE(2u, 1u);
    // A batch of the model once or twice runs on the calling thread (below 2 MiB of
    // output per thread, Reader::kParallelBytesPerThread); 40 times is enough output,
    // high and low, to be spread over two threads.
    const size_t copies = GENERATE(2u, 40u);
    CAPTURE(handle_threads, copies);
    const std::vector<Tensor> model = thread_model();
    TempDir dir;
    qstore::PackOptions o;
    o.block_elements = GENERATE(4096u, 1u << 18);  // many blocks per tensor, or one
    pack_model(dir, model, "m.qs", o);
    auto f = open_qs(dir.path() + "/m.qs", nullptr, handle_threads);
    REQUIRE(f);
    const size_t n = qs_tensor_count(f.get());
    REQUIRE(n == model.size());

    // Every tensor `copies` times, every other time in reverse order: the batch may
    // repeat and reorder tensors.
    std::vector<size_t> idx;
    for (size_t c = 0; c < copies; ++c)
        for (size_t i = 0; i < n; ++i) idx.push_back(c % 2 ? i : n - 1 - i);
    std::vector<std::vector<uint8_t>> high(idx.size()), codes(idx.size()), scales(idx.size());
    std::vector<void*> high_p, codes_p, scales_p;
    std::vector<size_t> high_n, codes_n, scales_n;
    for (size_t k = 0; k < idx.size(); ++k) {
        const qs_tensor_info info = tensor_info(f.get(), idx[k]);
        high[k].assign(info.high_bytes, 0xCD);
        codes[k].assign(info.low_code_bytes, 0xCD);
        scales[k].assign(info.low_scale_bytes + 1, 0xCD);
        high_p.push_back(high[k].data());
        codes_p.push_back(codes[k].data());
        scales_p.push_back(scales[k].data());
        high_n.push_back(high[k].size());
        codes_n.push_back(codes[k].size());
        scales_n.push_back(info.low_scale_bytes);
    }
    if (copies > 2) {  // both batches are large enough for two threads
        const size_t two_threads = 2 * qstore::Reader::kParallelBytesPerThread;
        REQUIRE(std::accumulate(high_n.begin(), high_n.end(), size_t(0)) >= two_threads);
        REQUIRE(std::accumulate(codes_n.begin(), codes_n.end(), size_t(0)) +
                    std::accumulate(scales_n.begin(), scales_n.end(), size_t(0)) >=
                two_threads);
    }
    REQUIRE(qs_load_high_many(f.get(), idx.size(), idx.data(), high_p.data(), high_n.data()) == QS_OK);
    REQUIRE(qs_load_low_many(f.get(), idx.size(), idx.data(), codes_p.data(), codes_n.data(), scales_p.data(),
                             scales_n.data()) == QS_OK);
    for (size_t k = 0; k < idx.size(); ++k) {
        INFO("tensor " << idx[k]);
        CHECK(first_mismatch(high[k], model[idx[k]].bytes) == -1);
        LowData one;
        REQUIRE(load_low(f.get(), idx[k], one) == QS_OK);
        CHECK(codes[k] == one.codes);
        CHECK(first_mismatch(scales[k].data(), scales_n[k], one.scales.data(), one.scales.size()) == -1);
    }

    // A bad index or a too-small buffer fails the call with that tensor's status.
    std::vector<size_t> bad = {0, n};
    CHECK(qs_load_high_many(f.get(), 2, bad.data(), high_p.data(), high_n.data()) == QS_ERR_INVALID_ARGUMENT);
    std::vector<size_t> small = high_n;
    small[3] -= 1;
    CHECK(qs_load_high_many(f.get(), idx.size(), idx.data(), high_p.data(), small.data()) ==
          QS_ERR_BUFFER_TOO_SMALL);
    CHECK(std::string(qs_last_error_message()).find("buffer too small") != std::string::npos);
    CHECK(qs_load_high_many(f.get(), 1, nullptr, high_p.data(), high_n.data()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_high_many(f.get(), 0, nullptr, nullptr, nullptr) == QS_OK);
}
