#include "pack/packer.hpp"

#include "base/error.hpp"
#include "io/atomic_file.hpp"
#include "pack/container_plan.hpp"
#include "pack/given_low.hpp"
#include "pack/tensor_encoder.hpp"
#include "pack/writer.hpp"
#include "schemes/registry.hpp"

namespace qstore {

namespace {

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

// A given tensor's bytes (empty if there is none), copied with pread: a low file that
// shrinks during the pack is an error, not SIGBUS.
std::vector<uint8_t> given_bytes(const TensorSource& low, const SafetensorsTensor* t) {
    std::vector<uint8_t> bytes;
    if (t) {
        bytes.resize(t->size);
        low.read(*t, bytes.data());
    }
    return bytes;
}

// Feeds the writer every tensor of the model in order: its bytes (read with pread, so
// that an input that shrinks is an error, not SIGBUS) and, with a given low file, the
// low precision matched to it, or none where the file lacks it.
void add_tensors(const TensorSource& high, const TensorSource* given_low, const GivenLowMatch& match,
                 const PackOptions& options, Writer& writer) {
    const std::vector<SafetensorsTensor>& tensors = high.tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const SafetensorsTensor& t = tensors[i];
        auto fill = [&](uint8_t* dst) { high.read(t, dst); };
        if (!given_low || !quantizable(t, options, writer.schemes())) {
            writer.add_tensor(t, fill);
            continue;
        }
        const GivenLowTensors& m = match.of.at(i);
        if (!m.codes) {  // the low file does not quantize it: kept as it is
            writer.add_tensor(t, fill, LowSource::as_is);
            continue;
        }
        GivenLowBytes given{given_bytes(*given_low, m.codes), given_bytes(*given_low, m.scales),
                            given_bytes(*given_low, m.zero_points)};
        writer.add_tensor(t, fill, LowSource::given, std::move(given));
    }
}

// A container's layout: which tensors get low codes (as add_tensors adds them) decides
// where each part lands.
ContainerPlan plan_for(const TensorSource& high, const TensorSource* given_low, const GivenLowMatch& match,
                       const PackOptions& options, const std::vector<const LowScheme*>& schemes,
                       const std::string& out_path) {
    if (options.container == ContainerKind::qs) return ContainerPlan{};
    const std::vector<SafetensorsTensor>& tensors = high.tensors();
    std::vector<bool> quantized;
    for (size_t i = 0; i < tensors.size(); ++i)
        quantized.push_back(quantizable(tensors[i], options, schemes) && (!given_low || match.of.at(i).codes));
    return plan_container(options.container, tensors, quantized, schemes, options, high.string_metadata(), out_path);
}

}  // namespace

const LowScheme* llama_mix_scheme() { return low_scheme(SchemeSpec{SchemeId::q8_0, 0}); }

std::string llama_mix_tensor(const std::vector<SafetensorsTensor>& tensors) {
    std::string out;
    for (const SafetensorsTensor& t : tensors)
        if (t.name == "output.weight" || (t.name == "token_embd.weight" && out.empty())) out = t.name;
    return out;
}

PackStats pack(const TensorSource& high, const TensorSource* given_low, const PackOptions& options_in,
               const std::string& out_path) {
    PackOptions options = options_in;
    if (options.container != ContainerKind::qs) options.low_raw = true;  // the low tensors are the parts
    // Refused before any work: an output that cannot be written, or that is one of the
    // model's own files. The file itself is written atomically (FileSink, AtomicFile).
    std::vector<std::string> inputs;
    for (const auto& t : high.tensors())
        if (inputs.empty() || inputs.back() != t.source) inputs.push_back(t.source);
    check_output_path(out_path, inputs);
    const std::vector<const LowScheme*> schemes = resolve_schemes(options, out_path);
    if (given_low && schemes.size() != 1)
        fail(Errc::invalid_argument, out_path + ": a given low-precision file makes a pair, not a chain");
    if (!options.llama_mix_tensor.empty() && given_low)
        fail(Errc::invalid_argument,
             out_path + ": llama-quantize's type mix goes with qstore's quantizer, not --low FILE");
    PackStats given_stats;
    GivenLowMatch match;
    if (given_low) match = match_given(high, *given_low, options, schemes, given_stats, out_path);

    Writer writer(out_path, options, inputs, high.tensors().size(),
                  plan_for(high, given_low, match, options, schemes, out_path));
    if (given_low) writer.declare_given_low();
    for (const auto& [key, value] : high.string_metadata()) writer.set_metadata(key, value);
    add_tensors(high, given_low, match, options, writer);
    PackStats stats = writer.finish();
    stats.given_low_unused = std::move(given_stats.given_low_unused);
    stats.given_low_missing = std::move(given_stats.given_low_missing);
    return stats;
}

}  // namespace qstore
