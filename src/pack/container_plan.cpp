#include "pack/container_plan.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "container/format.hpp"
#include "io/gguf_layout.hpp"
#include "io/gguf_retype.hpp"
#include "pack/tensor_encoder.hpp"
#include "schemes/layout.hpp"

namespace qstore {

namespace {

constexpr uint64_t kMaxDigits = 20;  // of a u64 in decimal

// The low model's tensors: the level-0 parts of every tensor, in the order the writer
// writes them (pack/tensor_encoder.cpp): codes, scales, zero points, or a passthrough's
// data; and the tensors derived from the shapes (GPTQ's g_idx), which the .qs index does
// not reference, with their bytes. Dtypes, shapes and names: schemes/layout.hpp.
struct LowModel {
    std::vector<LowTensorSpec> parts, derived;
    std::vector<uint8_t> derived_data;
};

// A scheme's low tensors must declare as many bytes as their dtypes and shapes hold (a
// safetensors reader checks it).
void check_sizes(const std::vector<LowTensorSpec>& tensors, const std::string& path) {
    for (const LowTensorSpec& t : tensors) {
        if (t.name.empty()) continue;
        uint64_t n = dtype_size(t.dtype);
        for (uint64_t d : t.shape) n *= d;
        if (n != t.bytes)
            fail(Errc::internal, path + ": low tensor '" + t.name + "' has " + std::to_string(t.bytes) +
                                     " bytes, its dtype and shape " + std::to_string(n));
    }
}

// `level0[i]`: tensor i's level-0 scheme, null for a passthrough tensor.
LowModel low_model(const std::vector<SafetensorsTensor>& tensors, const std::vector<const LowScheme*>& level0,
                   const std::string& path) {
    LowModel m;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const SafetensorsTensor& t = tensors[i];
        if (!level0.at(i)) {
            m.parts.push_back({t.name, t.dtype, t.shape, t.size});
            continue;
        }
        const LowScheme& s = *level0[i];
        const Geometry g = geometry_of(t);
        const LowTensorSpecs specs = low_tensor_specs(s, t.name, g, t.shape);
        check_sizes(specs.parts, path);
        check_sizes(specs.derived, path);
        for (const LowTensorSpec& p : specs.parts) {
            if (p.name.empty() && p.bytes != 0)
                fail(Errc::invalid_argument, path + ": scheme " + s.name() + " has no safetensors layout for '" +
                                                 t.name + "'");
            m.parts.push_back(p);
        }
        for (const LowTensorSpec& d : specs.derived) {
            const std::vector<uint8_t> bytes = group_index_bytes(g.cols, s.spec().group);
            if (bytes.size() != d.bytes)
                fail(Errc::internal, path + ": '" + d.name + "' has another size than declared");
            m.derived.push_back(d);
            m.derived_data.insert(m.derived_data.end(), bytes.begin(), bytes.end());
        }
    }
    return m;
}

// Offsets of the parts in a data section whose parts start at multiples of `align`.
uint64_t place_parts(const std::vector<uint64_t>& sizes, uint64_t align, std::vector<uint64_t>& offsets) {
    uint64_t pos = 0;
    for (uint64_t n : sizes) {
        pos = align_up(pos, align);
        offsets.push_back(pos);
        pos += n;
    }
    return align_up(pos, align);
}

ContainerPlan plan_gguf(const std::vector<SafetensorsTensor>& tensors, const std::vector<const LowScheme*>& level0,
                        const LowScheme& s, const PackOptions& options, const std::string& path) {
    if (options.gguf_layout.empty())
        fail(Errc::invalid_argument, path + ": a GGUF container holds a model packed from a GGUF file (a "
                                            "safetensors model has no architecture a GGUF runtime loads): use "
                                            "--container safetensors");
    const GgufLayout l = parse_gguf_layout(options.gguf_layout.data(), options.gguf_layout.size(), path);
    if (l.header.infos.size() != tensors.size())
        fail(Errc::internal, path + ": the GGUF layout and the model disagree on the tensors");
    std::vector<uint32_t> types;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const GgufTensorInfo& info = l.header.infos[i];
        if (info.name != tensors[i].name)
            fail(Errc::invalid_argument, path + ": a GGUF container needs the tensor infos in data order; '" +
                                             info.name + "' is not");
        uint32_t type = info.type;
        const LowScheme* low = level0[i];
        if (low && low->id() == SchemeId::q8_0) type = static_cast<uint32_t>(GgmlType::q8_0);
        else if (low && low->id() == SchemeId::q4_0) type = static_cast<uint32_t>(GgmlType::q4_0);
        else if (low)
            fail(Errc::invalid_argument, path + ": a GGUF container holds q8_0 or q4_0 codes at the low level, not " +
                                             low->name() +
                                             " (no ggml type a runtime loads): use --container safetensors");
        types.push_back(type);
    }
    ContainerPlan plan;
    plan.kind = ContainerKind::gguf;
    std::vector<uint64_t> sizes;
    for (const LowTensorSpec& p : low_model(tensors, level0, path).parts) sizes.push_back(p.bytes);
    GgufExtraKeys keys;
    keys.add_u64(kContainerOffsetKey, 0);  // the value's bytes are the same size for every value
    keys.add_string(kContainerSchemeKey, s.name());
    RetypedGguf g = retype_gguf(l, types, llama_file_type(l, types), path, keys);
    plan.part_alignment = g.alignment;
    plan.data_size = place_parts(sizes, g.alignment, plan.part_offsets);
    keys = GgufExtraKeys{};
    keys.add_u64(kContainerOffsetKey, g.header.size() + plan.data_size);
    keys.add_string(kContainerSchemeKey, s.name());
    g = retype_gguf(l, types, llama_file_type(l, types), path, keys);
    // Each GGUF tensor is the first part of its tensor (codes, or a passthrough's data).
    for (size_t i = 0, k = 0; i < tensors.size(); ++i) {
        if (plan.part_offsets.at(k) != g.offsets[i] || sizes[k] != g.sizes[i])
            fail(Errc::invalid_argument, path + ": tensor '" + tensors[i].name + "' does not fit its GGUF type");
        k += level0[i] ? 2 : 1;
    }
    plan.prefix = std::move(g.header);
    return plan;
}

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string shape_text(const std::vector<uint64_t>& shape) {
    std::string t = "[";
    for (size_t i = 0; i < shape.size(); ++i) t += (i ? "," : "") + std::to_string(shape[i]);
    return t + "]";
}

// The safetensors header up to the trailing tensor's shape, and its `data_offsets`
// before the end; `offset` is the qstore header's absolute offset. `tensors[k]` lies at
// `offsets[k]` of the data section.
void safetensors_json(const std::vector<LowTensorSpec>& tensors, const std::vector<uint64_t>& offsets,
                      std::map<std::string, std::string> metadata, const LowScheme& s, uint64_t data_size,
                      uint64_t offset, ContainerPlan& plan) {
    metadata[kContainerOffsetKey] = std::to_string(offset);
    metadata[kContainerSchemeKey] = s.name();
    std::string t = "{\"__metadata__\":{";
    for (const auto& [k, v] : metadata) t += (t.back() == '{' ? "" : ",") + quoted(k) + ":" + quoted(v);
    t += "}";
    for (size_t k = 0; k < tensors.size(); ++k) {
        if (tensors[k].name.empty()) continue;
        t += "," + quoted(tensors[k].name) + ":{\"dtype\":" + quoted(dtype_name(tensors[k].dtype)) +
             ",\"shape\":" + shape_text(tensors[k].shape) + ",\"data_offsets\":[" + std::to_string(offsets[k]) +
             "," + std::to_string(offsets[k] + tensors[k].bytes) + "]}";
    }
    plan.json_head = t + "," + quoted(kContainerTensor) + ":{\"dtype\":\"U8\",\"shape\":[";
    plan.json_tail = "],\"data_offsets\":[" + std::to_string(data_size) + ",";
    // The header is padded with spaces so that the data section starts at a multiple of 64.
    plan.json_length = align_up(8 + plan.json_head.size() + plan.json_tail.size() + 2 * kMaxDigits + 3, kAlignment) - 8;
}

// The level-0 parts back to back, then the derived tensors (their bytes written after
// the last part, inside the level-0 section), then the trailing tensor.
ContainerPlan plan_safetensors(const std::vector<SafetensorsTensor>& tensors,
                               const std::vector<const LowScheme*>& level0, const LowScheme& s,
                               const std::map<std::string, std::string>& metadata, const std::string& path) {
    ContainerPlan plan;
    plan.kind = ContainerKind::safetensors;
    LowModel m = low_model(tensors, level0, path);
    std::vector<LowTensorSpec> all = m.parts;
    all.insert(all.end(), m.derived.begin(), m.derived.end());
    std::set<std::string> names;
    std::vector<uint64_t> sizes;
    for (const LowTensorSpec& p : all) {
        sizes.push_back(p.bytes);
        if (p.name.empty()) continue;
        if (p.name == "__metadata__" || p.name == kContainerTensor || !names.insert(p.name).second)
            fail(Errc::invalid_argument, path + ": the low model would have a tensor named '" + p.name +
                                             "' twice, or one of the names a safetensors container keeps (" +
                                             kContainerTensor + ", __metadata__)");
    }
    std::vector<uint64_t> offsets;
    plan.data_size = place_parts(sizes, 1, offsets);
    plan.part_offsets.assign(offsets.begin(), offsets.begin() + static_cast<std::ptrdiff_t>(m.parts.size()));
    plan.derived_data = std::move(m.derived_data);
    // The header's length holds the qstore header's offset in decimal: settle both.
    uint64_t length = 0;
    do {
        length = plan.json_length;
        safetensors_json(all, offsets, metadata, s, plan.data_size, 8 + length + plan.data_size, plan);
    } while (plan.json_length != length);
    plan.prefix = plan.final_prefix(0);
    return plan;
}

}  // namespace

std::vector<uint8_t> ContainerPlan::final_prefix(uint64_t file_size) const {
    if (kind != ContainerKind::safetensors) return prefix;
    const uint64_t data_start = 8 + json_length;
    const uint64_t end = file_size > data_start ? file_size - data_start : data_size;
    std::string text = json_head + std::to_string(end - data_size) + json_tail + std::to_string(end) + "]}}";
    if (text.size() > json_length) fail(Errc::internal, "safetensors container header overflows its room");
    text.resize(static_cast<size_t>(json_length), ' ');
    std::vector<uint8_t> out;
    put_u64(out, json_length);
    put_bytes(out, text.data(), text.size());
    return out;
}

ContainerPlan plan_container(ContainerKind kind, const std::vector<SafetensorsTensor>& tensors,
                             const std::vector<bool>& quantized, const std::vector<const LowScheme*>& schemes,
                             const PackOptions& options, const std::map<std::string, std::string>& metadata,
                             const std::string& path) {
    if (kind == ContainerKind::qs) return ContainerPlan{};
    std::vector<const LowScheme*> level0;
    for (size_t i = 0; i < tensors.size(); ++i)
        level0.push_back(!quantized.at(i)                                 ? nullptr
                         : tensors[i].name == options.llama_mix_tensor ? llama_mix_scheme()
                                                                         : schemes.at(0));
    if (kind == ContainerKind::gguf) return plan_gguf(tensors, level0, *schemes.at(0), options, path);
    return plan_safetensors(tensors, level0, *schemes.at(0), metadata, path);
}

}  // namespace qstore
