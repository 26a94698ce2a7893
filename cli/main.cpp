// qstore: pack safetensors into one two-precision .qs file, inspect, verify, unpack.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "version.hpp"

int main(int argc, char** argv) {
    CLI::App app{"qstore: one file, two precisions of a neural network, losslessly"};
    app.set_version_flag("--version", std::string("qstore ") + qstore::version_string());
    app.require_subcommand(1);

    std::string input, output, low_file, precision = "high";
    qstore::PackOptions pack_options;
    unsigned threads = 0;
    bool json = false;

    auto* pack = app.add_subcommand("pack", "Pack a safetensors model (file or sharded folder) into a .qs file");
    pack->add_option("input", input, "model.safetensors, model.safetensors.index.json or a folder")->required();
    pack->add_option("-o,--output", output, "output .qs file")->required();
    pack->add_option("--low", low_file,
                     "existing INT8 model in bitsandbytes layout (X.weight int8 + X.SCB float32) to use as the low "
                     "precision instead of quantizing");
    pack->add_flag("--low-raw", pack_options.low_raw, "store INT8 codes raw and 64-byte aligned (zero-copy loads)");
    pack->add_option("--exclude", pack_options.exclude, "glob pattern of tensor names to store unquantized (repeatable)");
    pack->add_option("--zstd-level", pack_options.zstd_level, "zstd level of the coded streams")->capture_default_str()
        ->check(CLI::Range(-7, 22));
    pack->add_option("-j,--threads", pack_options.threads, "threads (0 = all CPUs)")->capture_default_str();

    auto* unpack = app.add_subcommand("unpack", "Write one precision of a .qs file as safetensors");
    unpack->add_option("input", input, "the .qs file")->required();
    unpack->add_option("--precision", precision, "high or low")->check(CLI::IsMember({"high", "low"}))->capture_default_str();
    unpack->add_option("-o,--output", output, "output .safetensors file")->required();
    unpack->add_option("-j,--threads", threads, "threads (0 = all CPUs)");

    auto* info = app.add_subcommand("info", "Print the tensor table, section sizes and ratios");
    info->add_option("input", input, "the .qs file")->required();
    info->add_flag("--json", json, "machine-readable output, with each section's offset and length");

    auto* verify = app.add_subcommand("verify", "Check every checksum and decode every tensor in both precisions");
    verify->add_option("input", input, "the .qs file")->required();
    verify->add_option("-j,--threads", threads, "threads (0 = all CPUs)");
    std::string against;
    verify->add_option("--against", against,
                       "also compare every tensor's high precision, byte for byte, with this safetensors model");

    CLI11_PARSE(app, argc, argv);
    try {
        if (pack->parsed()) return cmd_pack(input, low_file, output, pack_options);
        if (unpack->parsed()) return cmd_unpack(input, precision, output, threads);
        if (info->parsed()) return cmd_info(input, json);
        if (verify->parsed()) return cmd_verify(input, threads, against);
    } catch (const qstore::Error& e) {
        std::fprintf(stderr, "qstore: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore: error: %s\n", e.what());
        return 1;
    }
    return 2;
}
