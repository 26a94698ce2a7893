#include "pack/writer.hpp"

#include <nlohmann/json.hpp>
#include <optional>

#include "base/error.hpp"
#include "base/input_checks.hpp"
#include "base/version.hpp"
#include "container/format.hpp"
#include "io/atomic_file.hpp"
#include "schemes/registry.hpp"

namespace qstore {

namespace {

// The queue holds the largest tensor seen per thread, plus one for the tensor the
// caller fills, and at least this much per thread: runs of small tensors then pass in
// batches, not with a wake-up of a thread each.
constexpr uint64_t kMinHeldPerSlot = uint64_t{1} << 20;

// Quantized tensors' bytes up to this size (most of a model's tensors, and many are in
// the queue at once) are allocated with new[]: freed chunks of that size are reused
// without page faults. Larger ones go to buffers reused from tensor to tensor, on 2 MiB
// pages (base/reusable_bytes.hpp), of which the queue's bound keeps few.
constexpr size_t kSmallInput = size_t{128} << 10;

// The schemes, once the output path passed its checks (the first error a caller sees).
std::vector<const LowScheme*> checked_schemes(const std::string& path, const PackOptions& options,
                                              const std::vector<std::string>& inputs, const ContainerPlan& plan) {
    check_output_path(path, inputs);
    if (plan.kind != options.container || (plan.kind != ContainerKind::qs && !options.low_raw))
        fail(Errc::invalid_argument, path + ": a " + container_name(options.container) +
                                         " container is written by pack(), with raw low codes");
    std::vector<const LowScheme*> schemes = resolve_schemes(options, path);
    if (!options.llama_mix_tensor.empty() && (schemes.size() != 1 || schemes[0]->id() != SchemeId::q4_0))
        fail(Errc::invalid_argument, path + ": llama-quantize's type mix goes with --low q4_0 alone");
    return schemes;
}

// The metadata section: the JSON nlohmann::json::dump wrote for it (keys sorted, no
// spaces), assembled as text. Destroying a nested nlohmann::json allocates, and an
// allocation failing there, out of memory, would end the program instead of failing
// the pack.
std::string metadata_json(const std::vector<const LowScheme*>& schemes, const PackOptions& options, bool given_low,
                          const std::map<std::string, std::string>& metadata) {
    auto quoted = [](const std::string& s) { return nlohmann::json(s).dump(); };
    std::string t = "{\"generator\":" + quoted(std::string("qstore ") + version_string());
    t += ",\"low_codes\":" + quoted(options.low_raw ? "raw" : "coded");
    if (schemes.size() > 1) {
        t += ",\"low_levels\":[";
        for (size_t k = 0; k < schemes.size(); ++k) t += (k ? "," : "") + quoted(schemes[k]->name());
        t += "]";
    }
    t += ",\"low_scheme\":" + quoted(schemes[0]->name());
    t += ",\"low_source\":" + quoted(given_low ? "given" : "qstore");
    t += ",\"safetensors_metadata\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
        t += (first ? "" : ",") + quoted(k) + ":" + quoted(v);
        first = false;
    }
    return t + "},\"zstd_level\":" + std::to_string(options.zstd_level) + "}";
}

// The tensor's elements, or 0 with `overflow` set if their bytes would not fit in 64
// bits (the rule the reader applies to the index).
uint64_t checked_elements(const std::vector<uint64_t>& shape, bool& overflow) {
    uint64_t n = 1;
    overflow = false;
    for (uint64_t d : shape) {
        if (d != 0 && n > (UINT64_MAX / 16) / d) overflow = true;
        n *= d;
    }
    return overflow ? 0 : n;
}

}  // namespace

std::vector<const LowScheme*> resolve_schemes(const PackOptions& options, const std::string& out_path) {
    if (options.low.empty() || options.low.size() > kMaxLowLevels)
        fail(Errc::invalid_argument, out_path + ": give one to eight low-precision schemes");
    std::vector<const LowScheme*> schemes;
    for (const auto& spec : options.low) {
        const LowScheme* s = low_scheme(spec);
        if (!s) fail(Errc::invalid_argument, out_path + ": unknown low-precision scheme");
        schemes.push_back(s);
    }
    return schemes;
}

// One tensor on its way through the queue. Not moved once made: input.high and
// input.given point into it.
struct Writer::Job {
    size_t index = 0;
    bool one_block = false;  // one coding block: encoded side by side with its neighbours
    uint64_t held_bytes = 0;
    TensorInput input;
    std::unique_ptr<uint8_t[]> small_high;                   // a small quantized tensor's bytes
    std::optional<ResourcePool<ReusableBytes>::Lease> high;  // a larger one's
    GivenLowBytes given;
};

Writer::Writer(const std::string& path, const PackOptions& options, const std::vector<std::string>& inputs,
               size_t expected_tensors, ContainerPlan plan)
    : path_(path), options_(options), schemes_(checked_schemes(path, options, inputs, plan)),
      expected_tensors_(expected_tensors), pool_(options.threads), encoder_(options_, schemes_, pool_),
      container_(path, schemes_.size() + 1, std::move(plan)), inputs_([] { return std::make_unique<ReusableBytes>(); }),
      queue_(pool_.size() + 1, kMinHeldPerSlot), ordered_([this](size_t, Encoded& done) { write_encoded(done); }) {
    if (!options_.llama_mix_tensor.empty()) mix_schemes_ = {llama_mix_scheme()};
    dispatcher_ = std::thread([this] { dispatch(); });
}

Writer::~Writer() {
    if (!dispatcher_.joinable()) return;
    queue_.stop();
    dispatcher_.join();
}

void Writer::set_metadata(const std::string& key, const std::string& value) {
    if (finished_) fail(Errc::invalid_argument, path_ + ": metadata set after the writer finished");
    for (const std::string* s : {&key, &value}) {
        const std::string problem = name_problem(*s);
        if (!problem.empty())
            fail(Errc::invalid_argument, path_ + ": metadata '" + printable_name(*s) + "': " + problem);
    }
    metadata_[key] = value;
}

void Writer::check_tensor(const SafetensorsTensor& t, LowSource low, const GivenLowBytes& given) {
    // Built only for an error: this runs for every tensor of the model.
    const auto what = [&] { return path_ + ": tensor '" + printable_name(t.name) + "'"; };
    if (finished_) fail(Errc::invalid_argument, what() + ": added after the writer finished");
    const std::string problem = name_problem(t.name);
    if (!problem.empty()) fail(Errc::invalid_argument, what() + ": " + problem);
    if (names_.count(t.name)) fail(Errc::invalid_argument, what() + ": a tensor of that name was already added");
    if (!dtype_is_valid(static_cast<uint8_t>(t.dtype))) fail(Errc::invalid_argument, what() + ": unknown dtype");
    if (t.shape.size() > 8) fail(Errc::invalid_argument, what() + ": more than 8 dimensions");
    bool overflow = false;
    const uint64_t elements = checked_elements(t.shape, overflow);
    if (overflow) fail(Errc::invalid_argument, what() + ": the shape's size overflows");
    if (t.size != elements * dtype_size(t.dtype))
        fail(Errc::invalid_argument, what() + ": " + std::to_string(t.size) + " bytes given, its shape of " +
                                         dtype_name(t.dtype) + " holds " +
                                         std::to_string(elements * dtype_size(t.dtype)));
    if (low != LowSource::given) return;
    if (schemes_.size() != 1)
        fail(Errc::invalid_argument, what() + ": a given low precision makes a pair, not a chain");
    if (!quantizable(t, options_, schemes_))
        fail(Errc::invalid_argument,
             what() + ": low codes given for a tensor that is stored as it is (dtype, shape or exclude pattern)");
    const LowScheme& s = *schemes_[0];
    const Geometry g = geometry_of(t);
    if (given.codes.size() != s.code_bytes(g) || given.scales.size() != s.scale_bytes(g) ||
        given.zero_points.size() != s.zero_point_bytes(g))
        fail(Errc::invalid_argument, what() + ": given " + s.name() + " low precision of " +
                                         std::to_string(given.codes.size()) + "/" + std::to_string(given.scales.size()) +
                                         "/" + std::to_string(given.zero_points.size()) +
                                         " bytes of codes/scales/zero points, the shape needs " +
                                         std::to_string(s.code_bytes(g)) + "/" + std::to_string(s.scale_bytes(g)) +
                                         "/" + std::to_string(s.zero_point_bytes(g)));
}

// Whether the tensor is stored quantized; with options.strict_given_low, refuses a
// quantizable tensor whose low precision comes from elsewhere than the others'.
bool Writer::stores_quantized(const SafetensorsTensor& t, LowSource low) {
    if (low == LowSource::given) return true;  // checked: it qualifies
    if (!quantizable(t, options_, schemes_)) return false;
    if (options_.strict_given_low && given_tensors_ > 0)
        fail(Errc::invalid_argument, path_ + ": tensor '" + printable_name(t.name) +
                                         "': no given low precision, while tensors before it have one (strict)");
    return low == LowSource::quantize;
}

void Writer::add_tensor(const SafetensorsTensor& t, const std::function<void(uint8_t*)>& fill, LowSource low,
                        GivenLowBytes given) {
    check_tensor(t, low, given);
    if (low == LowSource::given && options_.strict_given_low && own_tensors_ > 0)
        fail(Errc::invalid_argument, path_ + ": tensor '" + printable_name(t.name) +
                                         "': a given low precision, while tensors before it have none (strict)");
    const bool quantized = stores_quantized(t, low);
    const bool counted_quantizable = low == LowSource::given || quantizable(t, options_, schemes_);
    // A job's own memory counts too: empty tensors must not queue without bound.
    const uint64_t held =
        sizeof(Job) + t.name.size() + t.size + given.codes.size() + given.scales.size() + given.zero_points.size();
    queue_.reserve(held);
    try {
        auto job = std::make_unique<Job>();
        job->index = added_;
        job->one_block = one_coding_block(t, options_.block_elements);
        job->held_bytes = held;
        job->input.tensor = t;
        job->input.tensor.data = nullptr;
        job->input.quantize = quantized;
        if (quantized) {
            uint8_t* dst;
            if (t.size <= kSmallInput) {
                job->small_high.reset(new uint8_t[t.size + ReusableBytes::kSlack]);
                dst = job->small_high.get();
            } else {
                job->high.emplace(inputs_.acquire());
                dst = (*job->high)->reserve(t.size);
            }
            fill(dst);
            job->input.high = dst;
            if (low == LowSource::quantize && t.name == options_.llama_mix_tensor) job->input.schemes = &mix_schemes_;
            job->given = std::move(given);
            if (low == LowSource::given) job->input.given = &job->given;
        } else {
            job->input.bytes.resize(t.size);
            fill(job->input.bytes.data());
        }
        queue_.push(std::move(job));
    } catch (...) {
        queue_.release(held);
        throw;
    }
    names_.insert(t.name);
    ++added_;
    if (counted_quantizable) ++(low == LowSource::given ? given_tensors_ : own_tensors_);
    if (low == LowSource::given) given_low_ = true;
}

// The dispatcher thread: tensors of one coding block cannot use more than one thread
// by themselves, and models are often thousands of them, so runs of consecutive such
// tensors are encoded side by side, one per thread, and written in order as they
// complete; larger tensors are encoded alone, their blocks in parallel.
void Writer::dispatch() {
    try {
        while (const std::optional<bool> one_block = queue_.wait_front([](const Job& j) { return j.one_block; })) {
            if (*one_block && pool_.size() > 1) pool_.parallel_for(pool_.size(), [this](size_t) { encode_run(); });
            else encode_one(queue_.pop_if([](const Job&) { return true; }));
        }
    } catch (...) {
        queue_.stop(std::current_exception());
    }
}

// One thread's share of a run: the next one-block tensors, until the run ends.
void Writer::encode_run() {
    try {
        while (std::unique_ptr<Job> job = queue_.pop_if([](const Job& j) { return j.one_block; }))
            encode_one(std::move(job));
    } catch (...) {
        queue_.stop(std::current_exception());
        throw;
    }
}

void Writer::encode_one(std::unique_ptr<Job> job) {
    if (!job) return;
    Encoded done{encoder_.encode(job->input), job->held_bytes};
    done.tensor.given = nullptr;  // points into the job
    const size_t index = job->index;
    job.reset();  // its input memory goes back before it waits to be written
    ordered_.commit(index, std::move(done));
}

void Writer::write_encoded(Encoded& done) {
    EncodedTensor& e = done.tensor;
    const ContainerPlan& plan = container_.plan();
    for (size_t k = 0; k < e.levels.size(); ++k)
        for (const PendingPart& part : e.levels[k]) {
            e.record.levels[k].push_back(container_.write_part(k, part));
            if (k > 0 || plan.kind == ContainerKind::qs) continue;
            const uint64_t at = e.record.levels[k].back().offset;
            if (low_parts_ >= plan.part_offsets.size() || at != plan.part_offsets[low_parts_])
                fail(Errc::internal, path_ + ": tensor '" + e.record.name + "' is not where the container header says");
            ++low_parts_;
        }
    const uint64_t elements = e.record.elements();
    stats_.tensors++;
    stats_.high_bytes += elements * dtype_size(e.record.high_dtype);
    stats_.low_separate_bytes += e.low_separate_bytes;
    if (e.record.quantized()) {
        stats_.quantized_tensors++;
        stats_.quantized_elements += elements;
    }
    records_.push_back(std::move(e.record));
    queue_.release(done.held_bytes);
    if (options_.progress) options_.progress(records_.size(), expected_tensors_, records_.back().name);
}

std::string Writer::metadata_text() const { return metadata_json(schemes_, options_, given_low_, metadata_); }

PackStats Writer::finish() {
    if (finished_) fail(Errc::invalid_argument, path_ + ": the writer already finished");
    finished_ = true;
    queue_.close();
    dispatcher_.join();
    if (const std::exception_ptr failure = queue_.failure()) std::rethrow_exception(failure);
    if (ordered_.written() != added_) fail(Errc::internal, path_ + ": a tensor was not written");
    FormatFeatures features = encoder_.features();
    features.gguf_layout = !options_.gguf_layout.empty();
    features.container = options_.container != ContainerKind::qs;
    if (features.container && low_parts_ != container_.plan().part_offsets.size())
        fail(Errc::invalid_argument, path_ + ": the container was planned for other tensors than those added");
    const FileHeader h = container_.finish(metadata_text(), serialize_index(records_), format_minor_needed(features),
                                           options_.gguf_layout);
    stats_.file_size = h.file_size;
    stats_.low_prefix_end = h.low_prefix_end;
    return stats_;
}

}  // namespace qstore
