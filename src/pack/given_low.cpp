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
    if (g.zero_points && (g.zero_points->dtype != DType::u8 || g.zero_points->size != s.zero_point_bytes(geo)))
        fail(Errc::invalid_argument, what + ": zero points '" + g.zero_points->name + "' must be U8 with " +
                                         std::to_string(s.zero_point_bytes(geo)) + " values");
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
        for (const SafetensorsTensor* x : {m.of[i].codes, m.of[i].scales, m.of[i].zero_points})
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
