// qstore: pack safetensors into one two-precision .qs file, inspect, verify, unpack.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <new>

#include "commands.hpp"
#include "base/error.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "base/version.hpp"

namespace {

// The low precisions `qstore pack` stores, from --low and --low-scheme, into
// options.low: a chain of schemes (several --low, highest first), one scheme, or a
// given low-precision file, whose path is returned ("" otherwise).
std::string resolve_lows(const std::vector<std::string>& lows, const std::string& given_scheme,
                         qstore::PackOptions& options) {
    if (options.strict_given_low && (lows.size() != 1 || qstore::low_scheme_by_name(lows[0])))
        throw qstore::Error(qstore::Errc::invalid_argument, "--strict only goes with --low FILE");
    if (lows.size() > 1) {
        if (!given_scheme.empty())
            throw qstore::Error(qstore::Errc::invalid_argument, "--low-scheme only goes with one --low FILE");
        options.low.clear();
        for (auto it = lows.rbegin(); it != lows.rend(); ++it) {
            const qstore::LowScheme* s = qstore::low_scheme_by_name(*it);
            if (!s)
                throw qstore::Error(qstore::Errc::invalid_argument,
                                    "--low '" + *it + "' is not a scheme (a chain is made of schemes: " +
                                        qstore::low_scheme_names() + ")");
            options.low.push_back(s->spec());
        }
        return "";
    }
    const std::string low = lows.at(0);
    std::string given_file, scheme_name = low;
    if (!qstore::low_scheme_by_name(low)) {
        std::error_code ec;
        if (!std::filesystem::exists(low, ec))
            throw qstore::Error(qstore::Errc::invalid_argument,
                                "--low '" + low + "' is neither a scheme (" + qstore::low_scheme_names() +
                                    ") nor an existing file");
        given_file = low;
        scheme_name = given_scheme.empty() ? "int8-row" : given_scheme;
    } else if (!given_scheme.empty()) {
        throw qstore::Error(qstore::Errc::invalid_argument, "--low-scheme only goes with --low FILE");
    }
    const qstore::LowScheme* scheme = qstore::low_scheme_by_name(scheme_name);
    if (!scheme)
        throw qstore::Error(qstore::Errc::invalid_argument,
                            "unknown scheme '" + scheme_name + "' (known: " + qstore::low_scheme_names() + ")");
    options.low = {scheme->spec()};
    return given_file;
}

// `qstore unpack` writes GGUF if --format says so, or without --format if the output
// name ends in .gguf.
bool unpack_as_gguf(const std::string& format, const std::string& output) {
    if (!format.empty()) return format == "gguf";
    const std::string ext = ".gguf";
    return output.size() > ext.size() && output.compare(output.size() - ext.size(), ext.size(), ext) == 0;
}

// Runs a command; its errors are printed as "qstore: error: ..." and give exit status 1.
template <class Command>
int reporting_errors(Command&& command) {
    try {
        return command();
    } catch (const qstore::Error& e) {
        std::fprintf(stderr, "qstore: error: %s\n", e.what());
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "qstore: error: out of memory\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore: error: %s\n", e.what());
    }
    return 1;
}

// `qstore pack`'s command line, parsed into these.
struct PackArgs {
    std::vector<std::string> lows = {"int8-row"};
    std::string given_scheme;
    std::string container = "qs";
    bool llama_mix = false;
    qstore::PackOptions options;
};

CLI::App* add_pack_command(CLI::App& app, std::string& input, std::string& output, PackArgs& args) {
    CLI::App* pack = app.add_subcommand(
        "pack", "Pack a safetensors model (file or sharded folder) or a GGUF model into a .qs file");
    pack->add_option("input", input, "model.safetensors, model.safetensors.index.json, a folder, or model.gguf")
        ->required();
    pack->add_option("-o,--output", output, "output .qs file")->required();
    pack->add_option("--low", args.lows,
                     "low precision: a scheme (" + qstore::low_scheme_names() +
                         "; G = group size, default 128), or an existing low-precision safetensors or GGUF file "
                         "to use instead of quantizing (layouts in docs/FORMAT.md). Repeat to store a chain, highest "
                         "first: --low int8-row --low q4_0")
        ->capture_default_str();
    pack->add_option("--low-scheme", args.given_scheme,
                     "with --low FILE: the scheme the file follows (default int8-row)");
    pack->add_flag("--strict", args.options.strict_given_low,
                   "with --low FILE: fail if a tensor of the file goes unused or a quantizable tensor has no "
                   "usable codes in it (without it: a warning, and those tensors are stored unquantized)");
    pack->add_flag("--low-raw", args.options.low_raw, "store the low codes raw and 64-byte aligned (zero-copy loads)");
    pack->add_option("--container", args.container,
                     "qs (default), or gguf / safetensors: a GGUF or safetensors file of the low model that "
                     "runtimes load as it is, with the residual and qstore's index after its tensors (implies "
                     "--low-raw; gguf: from a GGUF model, --low q8_0 or q4_0)")
        ->check(CLI::IsMember({"qs", "gguf", "safetensors"}))
        ->capture_default_str();
    pack->add_flag("--llama-mix", args.llama_mix,
                   "with --low q4_0: the output tensor (output.weight, else token_embd.weight) gets q8_0 codes, "
                   "as llama-quantize's Q4_0 type mix (for a GGUF container that matches llama-quantize's file)");
    pack->add_option("--exclude", args.options.exclude, "glob pattern of tensor names to store unquantized (repeatable)");
    pack->add_option("--zstd-level", args.options.zstd_level, "zstd level of the coded streams")->capture_default_str()
        ->check(CLI::Range(-7, 22));
    pack->add_option("-j,--threads", args.options.threads, "threads (0 = all CPUs)")->capture_default_str();
    return pack;
}

int run(int argc, char** argv) {
    CLI::App app{"qstore: one file, two precisions of a neural network, losslessly"};
    app.set_version_flag("--version", std::string("qstore ") + qstore::version_string());
    app.require_subcommand(1);

    std::string input, output, precision = "high";
    unsigned threads = 0;
    bool json = false;

    PackArgs pack_args;
    CLI::App* pack = add_pack_command(app, input, output, pack_args);

    auto* unpack = app.add_subcommand("unpack", "Write one precision of a .qs file as safetensors or GGUF");
    unpack->add_option("input", input, "the .qs file, or its http(s):// URL")->required();
    unpack->add_option("--precision", precision,
                       "high, low (the lowest level) or a level number (0 = lowest) of a chain")
        ->capture_default_str();
    unpack->add_option("-o,--output", output, "output .safetensors or .gguf file")->required();
    std::string format;
    unpack->add_option("--format", format,
                       "safetensors or gguf (default: gguf if the output name ends in .gguf, else safetensors)")
        ->check(CLI::IsMember({"safetensors", "gguf"}));
    unpack->add_option("-j,--threads", threads, "threads (0 = all CPUs)");
    bool llama_mix = false;
    unpack->add_flag("--llama-mix", llama_mix,
                     "GGUF low precision of a file packed from GGUF with --low q8_0 --low q4_0: output.weight from "
                     "the q8_0 level, as llama-quantize's Q4_0 mix");
    std::vector<std::string> tensor_globs;
    unpack->add_option("--tensors", tensor_globs,
                       "write only the tensors whose names match this glob (fnmatch; repeatable); over HTTP only "
                       "their bytes are fetched");

    auto* info = app.add_subcommand("info", "Print the tensor table, section sizes and ratios");
    info->add_option("input", input, "the .qs file, or its http(s):// URL")->required();
    info->add_flag("--json", json, "machine-readable output, with each section's offset and length");

    auto* verify = app.add_subcommand("verify", "Check every checksum and decode every tensor at every precision level");
    verify->add_option("input", input, "the .qs file, or its http(s):// URL")->required();
    verify->add_option("-j,--threads", threads, "threads (0 = all CPUs)");
    std::string against;
    verify->add_option("--against", against,
                       "also compare every tensor's high precision, byte for byte, with this safetensors or GGUF model");

    CLI11_PARSE(app, argc, argv);
    return reporting_errors([&] {
        if (pack->parsed()) {
            PackArgs& p = pack_args;
            const std::string given_file = resolve_lows(p.lows, p.given_scheme, p.options);
            p.options.container = p.container == "gguf"          ? qstore::ContainerKind::gguf
                                  : p.container == "safetensors" ? qstore::ContainerKind::safetensors
                                                                 : qstore::ContainerKind::qs;
            return cmd_pack(input, given_file, output, p.options, p.llama_mix);
        }
        if (unpack->parsed())
            return cmd_unpack(input, precision, output, threads, unpack_as_gguf(format, output), llama_mix,
                              tensor_globs);
        if (info->parsed()) return cmd_info(input, json);
        if (verify->parsed()) return cmd_verify(input, threads, against);
        return 2;
    });
}

}  // namespace

int main(int argc, char** argv) {
    // Out of memory while the command line is set up or parsed (the command's own
    // errors are handled in run()).
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "qstore: error: out of memory\n");
        return 1;
    }
}
