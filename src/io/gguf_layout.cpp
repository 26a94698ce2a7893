#include "io/gguf_layout.hpp"

#include <algorithm>

#include "base/byte_io.hpp"
#include "base/error.hpp"

namespace qstore {

namespace {

// The tensor infos by ascending offset (then size), as the data section holds them.
std::vector<const GgufTensorInfo*> by_offset(const std::vector<GgufTensorInfo>& infos) {
    std::vector<const GgufTensorInfo*> order;
    for (const GgufTensorInfo& t : infos) order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
        return a->offset != b->offset ? a->offset < b->offset : a->size < b->size;
    });
    return order;
}

// Calls span(begin, end, info) for every gap (info null) and tensor of a data section
// of data_size bytes, in file order; a tensor of no bytes may lie anywhere.
void for_each_span(const std::vector<GgufTensorInfo>& infos, uint64_t data_size, const std::string& what,
                   const std::function<void(uint64_t, uint64_t, const GgufTensorInfo*)>& span) {
    uint64_t pos = 0;
    for (const GgufTensorInfo* t : by_offset(infos)) {
        if (!t->known) fail(Errc::corrupt, what + ": GGUF tensor '" + t->name + "' of unknown type");
        if (t->size == 0) {
            span(t->offset, t->offset, t);
            continue;
        }
        if (t->offset < pos)
            fail(Errc::corrupt, what + ": GGUF tensor '" + t->name + "' overlaps the tensor before it");
        if (t->offset > data_size || t->size > data_size - t->offset)
            fail(Errc::corrupt, what + ": GGUF tensor '" + t->name + "' beyond the data section");
        if (t->offset > pos) span(pos, t->offset, nullptr);
        span(t->offset, t->offset + t->size, t);
        pos = t->offset + t->size;
    }
    if (data_size > pos) span(pos, data_size, nullptr);
}

}  // namespace

std::vector<uint8_t> serialize_gguf_layout(const GgufReader& model) {
    const GgufHeader& h = model.header();
    const uint64_t data_size = model.file_size() - std::min<uint64_t>(model.file_size(), h.data_offset);
    std::vector<uint8_t> header(static_cast<size_t>(std::min<uint64_t>(h.data_offset, model.file_size())));
    model.read_file(0, header.data(), header.size());
    header.resize(static_cast<size_t>(h.data_offset), 0);  // a file that ends inside its last padding
    std::vector<uint8_t> gaps;
    for_each_span(h.infos, data_size, model.path(), [&](uint64_t begin, uint64_t end, const GgufTensorInfo* t) {
        if (t) return;
        const size_t at = gaps.size();
        gaps.resize(at + static_cast<size_t>(end - begin));
        model.read_file(h.data_offset + begin, gaps.data() + at, static_cast<size_t>(end - begin));
    });
    std::vector<uint8_t> out;
    put_varint(out, header.size());
    put_bytes(out, header.data(), header.size());
    put_varint(out, data_size);
    put_varint(out, gaps.size());
    put_bytes(out, gaps.data(), gaps.size());
    return out;
}

GgufLayout parse_gguf_layout(const uint8_t* p, size_t size, const std::string& what) {
    ByteReader r(p, size, what, ": gguf_layout section");
    GgufLayout l;
    const uint64_t header_size = r.varint();
    if (header_size > r.remaining()) fail(Errc::corrupt, what + ": gguf_layout section: header beyond its end");
    const uint8_t* header = r.take(static_cast<size_t>(header_size));
    l.header_bytes.assign(header, header + header_size);
    l.data_size = r.varint();
    const uint64_t gap_size = r.varint();
    if (gap_size != r.remaining()) fail(Errc::corrupt, what + ": gguf_layout section: gap bytes do not fill it");
    l.gap_bytes.assign(r.position(), r.position() + gap_size);
    const std::string source = what + ": gguf_layout section";
    l.header = parse_gguf_header(
        l.header_bytes.size(),
        [&](uint64_t offset, uint8_t* dst, size_t n) { std::copy_n(l.header_bytes.data() + offset, n, dst); }, source);
    if (l.header.data_offset != l.header_bytes.size())
        fail(Errc::corrupt, source + ": the GGUF header does not end where its data section starts");
    uint64_t gaps = 0;
    for_each_span(l.header.infos, l.data_size, source, [&](uint64_t begin, uint64_t end, const GgufTensorInfo* t) {
        if (!t) gaps += end - begin;
    });
    if (gaps != l.gap_bytes.size()) fail(Errc::corrupt, source + ": gap bytes do not match the tensor offsets");
    return l;
}

void walk_gguf_data(const GgufLayout& layout, const std::string& what,
                    const std::function<void(const uint8_t*, size_t)>& gap,
                    const std::function<void(const GgufTensorInfo&)>& tensor) {
    uint64_t used = 0;
    for_each_span(layout.header.infos, layout.data_size, what, [&](uint64_t begin, uint64_t end, const GgufTensorInfo* t) {
        if (t) {
            tensor(*t);
            return;
        }
        gap(layout.gap_bytes.data() + used, static_cast<size_t>(end - begin));
        used += end - begin;
    });
}

}  // namespace qstore
