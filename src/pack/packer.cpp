#include "pack/packer.hpp"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "base/version.hpp"
#include "container/format.hpp"
#include "io/atomic_file.hpp"
#include "pack/container_writer.hpp"
#include "pack/given_low.hpp"
#include "pack/ordered_commit.hpp"
#include "pack/tensor_encoder.hpp"
#include "schemes/registry.hpp"

namespace qstore {

namespace {

// The schemes of options.low, lowest first; refused before any work if unknown or if a
// given low file is asked to make a chain.
std::vector<const LowScheme*> resolve_schemes(const PackOptions& options, const TensorSource* given_low,
                                              const std::string& out_path) {
    if (options.low.empty() || options.low.size() > kMaxLowLevels)
        fail(Errc::invalid_argument, out_path + ": give one to eight low-precision schemes");
    std::vector<const LowScheme*> schemes;
    for (const auto& spec : options.low) {
        const LowScheme* s = low_scheme(spec);
        if (!s) fail(Errc::invalid_argument, out_path + ": unknown low-precision scheme");
        schemes.push_back(s);
    }
    if (given_low && schemes.size() != 1)
        fail(Errc::invalid_argument, out_path + ": a given low-precision file makes a pair, not a chain");
    return schemes;
}

// Matches the given low file to the high model (pack/given_low.hpp) into stats; with
// options.strict_given_low, a tensor left unused or unquantized is an error.
GivenLowMatch match_given(const TensorSource& high, const TensorSource& low, const PackOptions& options,
                          const std::vector<const LowScheme*>& schemes, PackStats& stats, const std::string& out_path) {
    GivenLowMatch m = match_given_low(high.tensors(), low, *schemes[0],
                                      [&](const SafetensorsTensor& t) { return quantizable(t, options, schemes); });
    stats.given_low_unused = m.unused;
    stats.given_low_missing = m.missing;
    if (options.strict_given_low && !(m.unused.empty() && m.missing.empty()))
        fail(Errc::invalid_argument,
             out_path + ": the given low-precision file does not match the model (strict): " +
                 std::to_string(m.unused.size()) + " of its tensors unused (" + name_list(m.unused, 8) + "), " +
                 std::to_string(m.missing.size()) + " quantizable tensors without usable " + schemes[0]->name() +
                 " codes and scales (" + name_list(m.missing, 8) + ")");
    return m;
}

// The metadata section: the JSON nlohmann::json::dump wrote for it (keys sorted, no
// spaces), assembled as text. Destroying a nested nlohmann::json allocates, and an
// allocation failing there, out of memory, would end the program instead of failing
// the pack.
std::string metadata_text(const std::vector<const LowScheme*>& schemes, const PackOptions& options, bool given_low,
                          const std::map<std::string, std::string>& safetensors_metadata) {
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
    for (const auto& [k, v] : safetensors_metadata) {
        t += (first ? "" : ",") + quoted(k) + ":" + quoted(v);
        first = false;
    }
    return t + "},\"zstd_level\":" + std::to_string(options.zstd_level) + "}";
}

// Adds a written tensor to the statistics.
void count_tensor(const SafetensorsTensor& t, const EncodedTensor& e, PackStats& stats) {
    stats.tensors++;
    stats.high_bytes += t.size;
    stats.low_separate_bytes += e.low_separate_bytes;
    if (e.record.quantized()) {
        stats.quantized_tensors++;
        stats.quantized_elements += t.num_elements();
    }
}

// Encodes every tensor and writes it in file order. A tensor of one coding block cannot
// use more than one thread by itself, and models are often thousands of them: runs of
// consecutive such tensors are encoded side by side, one per thread, and committed in
// order as they complete. Larger tensors are encoded alone, their blocks in parallel.
// The file is the same for every thread count.
std::vector<TensorRecord> write_tensors(const TensorSource& high, const PackOptions& options,
                                        TensorEncoder& encoder, ThreadPool& pool, ContainerWriter& container,
                                        PackStats& stats) {
    const auto& tensors = high.tensors();
    std::vector<TensorRecord> records;
    records.reserve(tensors.size());
    OrderedCommit<EncodedTensor> ordered([&](size_t ti, EncodedTensor& e) {
        for (size_t k = 0; k < e.levels.size(); ++k)
            for (const PendingPart& part : e.levels[k]) e.record.levels[k].push_back(container.write_part(k, part));
        count_tensor(tensors[ti], e, stats);
        records.push_back(std::move(e.record));
        if (options.progress) options.progress(records.size(), tensors.size(), tensors[ti].name);
    });
    auto one_block = [&](const SafetensorsTensor& t) { return one_coding_block(t, options.block_elements); };
    for (size_t ti = 0; ti < tensors.size();) {
        size_t end = ti + 1;
        if (one_block(tensors[ti]) && pool.size() > 1)
            while (end < tensors.size() && one_block(tensors[end])) ++end;
        if (end == ti + 1) ordered.commit(ti, encoder.encode(tensors[ti]));
        else pool.parallel_for(end - ti, [&](size_t k) { ordered.commit(ti + k, encoder.encode(tensors[ti + k])); });
        ti = end;
    }
    if (ordered.written() != tensors.size()) fail(Errc::internal, "a tensor was not written");
    return records;
}

PackStats pack_into(const TensorSource& high, const TensorSource* given_low, const PackOptions& options,
                    const std::string& out_path) {
    PackStats stats;
    const std::vector<const LowScheme*> schemes = resolve_schemes(options, given_low, out_path);
    GivenLowMatch given_match;
    if (given_low) given_match = match_given(high, *given_low, options, schemes, stats, out_path);

    ThreadPool pool(options.threads);
    TensorEncoder encoder(high, given_low, &given_match, options, schemes, pool);
    ContainerWriter container(out_path, schemes.size() + 1);
    const std::vector<TensorRecord> records =
        write_tensors(high, options, encoder, pool, container, stats);
    FormatFeatures features = encoder.features();
    features.gguf_layout = !options.gguf_layout.empty();
    const FileHeader h = container.finish(metadata_text(schemes, options, given_low != nullptr, high.string_metadata()),
                                          serialize_index(records), format_minor_needed(features), options.gguf_layout);
    stats.file_size = h.file_size;
    stats.low_prefix_end = h.low_prefix_end;
    return stats;
}

}  // namespace

PackStats pack(const TensorSource& high, const TensorSource* given_low, const PackOptions& options,
               const std::string& out_path) {
    // Refused before any work: an output that cannot be written, or that is one of the
    // model's own files. The file itself is written atomically (FileSink, AtomicFile).
    std::vector<std::string> inputs;
    for (const auto& t : high.tensors())
        if (inputs.empty() || inputs.back() != t.source) inputs.push_back(t.source);
    check_output_path(out_path, inputs);
    return pack_into(high, given_low, options, out_path);
}

}  // namespace qstore
