#include "pack/given_low.hpp"

#include <algorithm>
#include <set>

#include "base/error.hpp"
#include "container/format.hpp"
#include "schemes/layout.hpp"

namespace qstore {

namespace {

Geometry geometry_of(const SafetensorsTensor& t) {
    TensorRecord shape_only;
    shape_only.shape = t.shape;
    return shape_only.geometry();
}

// Fails unless the given codes, scales and zero points fit high tensor t.
void check_fit(const SafetensorsTensor& t, const GivenLowTensors& g, const LowScheme& s) {
    const std::string what = t.source + ": tensor '" + t.name + "'";
    const Geometry geo = geometry_of(t);
    if (g.codes->size != s.code_bytes(geo) || (s.native_is_internal() && g.codes->shape != t.shape))
        fail(Errc::invalid_argument, what + ": low codes '" + g.codes->name + "' do not match the shape of the high tensor");
    if (g.scales && (g.scales->dtype != s.scale_dtype() || g.scales->size != s.scale_bytes(geo)))
        fail(Errc::invalid_argument, what + ": scales '" + g.scales->name + "' must be " + dtype_name(s.scale_dtype()) +
                                         " with " + std::to_string(s.scale_bytes(geo) / dtype_size(s.scale_dtype())) +
                                         " values");
    const DType zd = s.zero_point_dtype();
    if (g.zero_points && (g.zero_points->dtype != zd || g.zero_points->size != s.zero_point_bytes(geo)))
        fail(Errc::invalid_argument, what + ": zero points '" + g.zero_points->name + "' must be " + dtype_name(zd) +
                                         " with " + std::to_string(s.zero_point_bytes(geo) / dtype_size(zd)) +
                                         " values");
}

// GPTQ's g_idx, when the file has one, must be column / G: other orders (act-order
// checkpoints) are not this scheme's layout.
void check_group_index(const SafetensorsTensor& t, const SafetensorsTensor& gi, const TensorSource& low,
                       const LowScheme& s) {
    const Geometry geo = geometry_of(t);
    const std::vector<uint8_t> want = group_index_bytes(geo.cols, s.spec().group);
    std::vector<uint8_t> have(gi.size);
    if (gi.dtype == DType::i32 && gi.size == want.size()) low.read(gi, have.data());
    if (have != want)
        fail(Errc::invalid_argument, t.source + ": tensor '" + t.name + "': g_idx '" + gi.name +
                                         "' must be I32 column / " + std::to_string(s.spec().group) +
                                         " (act-order checkpoints are not supported)");
}

// The given tensors for quantizable high tensor t; codes == nullptr if the file lacks
// any of the ones the scheme needs.
GivenLowTensors find_given(const SafetensorsTensor& t, const TensorSource& low, const LowScheme& s) {
    const LowTensorNames names = low_tensor_names(s, t.name);
    GivenLowTensors g;
    g.codes = low.find(names.codes);
    g.scales = names.scales.empty() ? nullptr : low.find(names.scales);
    g.zero_points = names.zero_points.empty() ? nullptr : low.find(names.zero_points);
    if (g.codes && g.codes->dtype != s.code_dtype())
        fail(Errc::invalid_argument, t.source + ": tensor '" + t.name + "': low codes '" + g.codes->name + "' are " +
                                         dtype_name(g.codes->dtype) + ", scheme " + s.name() + " needs " +
                                         dtype_name(s.code_dtype()));
    const bool complete = g.codes && (names.scales.empty() || g.scales) && (names.zero_points.empty() || g.zero_points);
    if (!complete) return {};
    check_fit(t, g, s);
    g.group_index = names.group_index.empty() ? nullptr : low.find(names.group_index);
    if (g.group_index) check_group_index(t, *g.group_index, low, s);
    return g;
}

}  // namespace

GivenLowMatch match_given_low(const std::vector<SafetensorsTensor>& high, const TensorSource& low,
                              const LowScheme& scheme,
                              const std::function<bool(const SafetensorsTensor&)>& quantizable) {
    GivenLowMatch m;
    m.of.resize(high.size());
    std::set<std::string> used;
    for (size_t i = 0; i < high.size(); ++i) {
        const SafetensorsTensor& t = high[i];
        if (!quantizable(t)) {
            // The low file's copy of a tensor stored as it is.
            const SafetensorsTensor* same = low.find(t.name);
            if (same && same->dtype == t.dtype && same->shape == t.shape) used.insert(t.name);
            continue;
        }
        m.of[i] = find_given(t, low, scheme);
        if (!m.of[i].codes) {
            m.missing.push_back(t.name);
            continue;
        }
        for (const SafetensorsTensor* x : {m.of[i].codes, m.of[i].scales, m.of[i].zero_points, m.of[i].group_index})
            if (x) used.insert(x->name);
    }
    for (const std::string& name : low.tensor_names())
        if (!used.count(name)) m.unused.push_back(name);
    std::sort(m.unused.begin(), m.unused.end());
    return m;
}

std::string name_list(const std::vector<std::string>& names, size_t max) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > max) out += ", and " + std::to_string(names.size() - max) + " more";
    return out;
}

}  // namespace qstore
