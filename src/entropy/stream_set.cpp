#include "entropy/stream_set.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_word.hpp"

namespace qstore {

namespace {
// Below these sizes the coders' own headers make them a loss; zstd also costs a table
// reset per frame, which dominates on short streams. From kMinWordRansInput bytes
// rANS is the word variant (SIMD-decodable, faster than zstd's Huffman literals);
// below it the 4-lane byte rANS, whose states cost fewer bytes.
constexpr size_t kMinZstdInput = 4096;
constexpr size_t kMinWordRansInput = 4096;
constexpr size_t kMinRansInput = 16;
// The zstd trial on streams of at least kZstdSampleFrom bytes: see zstd_may_win.
constexpr size_t kZstdSampleFrom = 65536;
constexpr size_t kZstdSample = 16384;

}  // namespace

// On long streams zstd beats the word rANS coder only through matches (rANS's fixed
// costs, a few hundred bytes, are small there, and order-0 rANS codes closer to the
// entropy than zstd's Huffman literals). A sample tells whether there are matches:
// zstd of the first kZstdSample bytes against their order-0 cost under the whole
// stream's counts. No gain on the sample, no full zstd trial. That skips most of the
// full zstd trials on long streams, for slightly larger files (the few streams where
// zstd would still have won, by little; docs/design/code-notes.md).
bool StreamEncoder::zstd_may_win(const uint8_t* data, size_t n, const std::array<uint64_t, 256>& count) {
    if (n < kZstdSampleFrom) return true;
    const size_t bound = ZSTD_compressBound(kZstdSample);
    const size_t sample = ZSTD_compress2(cctx_, zstd_out_.reserve(bound), bound, data, kZstdSample);
    if (ZSTD_isError(sample)) fail(Errc::internal, std::string("zstd compression failed: ") + ZSTD_getErrorName(sample));
    return static_cast<double>(sample) < order0_bits(byte_histogram(data, kZstdSample), count, static_cast<double>(n)) / 8;
}

StreamEncoder::StreamEncoder(int zstd_level, KernelSet kernels)
    : cctx_(ZSTD_createCCtx()), level_(zstd_level), kernels_(kernels) {
    if (!cctx_) fail(Errc::out_of_memory, "cannot create a zstd context");
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level_);
    // The fast levels, on quantized codes and scale planes: matches from 7 bytes only
    // (4-6 byte matches in codes cost about what they save, and finding them takes
    // time). The hash table keeps its size: a smaller one is faster but loses distant
    // matches (docs/design/code-notes.md).
    if (level_ <= 1) ZSTD_CCtx_setParameter(cctx_, ZSTD_c_minMatch, 7);
    // Our streams carry their own sizes and checksums; drop zstd's duplicates.
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_dictIDFlag, 0);
}

StreamEncoder::~StreamEncoder() { ZSTD_freeCCtx(cctx_); }

void StreamEncoder::encode(const std::vector<std::pair<const uint8_t*, size_t>>& streams, ByteVector& out) {
    ByteVector& table = table_;
    ByteVector& payload = payload_;
    table.clear();
    payload.clear();
    put_varint(table, streams.size());
    for (const auto& [data, n] : streams) {
        if (n == 0) {
            put_u8(table, static_cast<uint8_t>(StreamCodec::empty));
            continue;
        }
        // One histogram serves the constant test, the entropy bound and the rANS model.
        const std::array<uint64_t, 256> count = byte_histogram(data, n);
        if (count[data[0]] == n) {  // constant
            put_u8(table, static_cast<uint8_t>(StreamCodec::constant));
            put_varint(table, n);
            put_u8(table, data[0]);
            continue;
        }
        size_t zstd_size = SIZE_MAX, rans_size = SIZE_MAX;
        if (n >= kMinZstdInput && zstd_may_win(data, n, count)) {
            const size_t bound = ZSTD_compressBound(n);
            const size_t c = ZSTD_compress2(cctx_, zstd_out_.reserve(bound), bound, data, n);
            if (ZSTD_isError(c)) fail(Errc::internal, std::string("zstd compression failed: ") + ZSTD_getErrorName(c));
            zstd_size = c;
        }
        // rANS is kept only if no larger than zstd and smaller than raw. A static rANS
        // code is never shorter than the stream's order-0 entropy (less the 16 bytes of
        // final states): no trial when that bound already loses. The word layout's own
        // bound (its model's cost) stops it before coding when zstd has won already,
        // as on most code streams of 4K-32K codes (zstd's Huffman header is smaller).
        const bool word = n >= kMinWordRansInput;
        const size_t limit = std::min(zstd_size, n - 1);
        if (n >= kMinRansInput && order0_bits(count, count, static_cast<double>(n)) / 8 - 16 <= static_cast<double>(limit)) {
            rans_scratch_.clear();
            bool coded = true;
            if (word) coded = word_rans_encode_stream(kernels_, data, n, count, word_rans_, rans_scratch_, limit);
            else rans_encode(data, n, count, rans_, rans_scratch_);
            if (coded) rans_size = rans_scratch_.size();
        }
        // The smallest wins; rANS on a tie with zstd (it decodes faster).
        if (std::min(zstd_size, rans_size) < n) {
            const bool use_rans = rans_size <= zstd_size;
            const StreamCodec codec = !use_rans ? StreamCodec::zstd : word ? StreamCodec::word_rans : StreamCodec::rans;
            wrote_rans_model_ = wrote_rans_model_ || use_rans;
            put_u8(table, static_cast<uint8_t>(codec));
            put_varint(table, n);
            put_varint(table, use_rans ? rans_size : zstd_size);
            if (use_rans) put_bytes(payload, rans_scratch_.data(), rans_size);
            else put_bytes(payload, zstd_out_.data(), zstd_size);
            continue;
        }
        put_u8(table, static_cast<uint8_t>(StreamCodec::raw));
        put_varint(table, n);
        put_bytes(payload, data, n);
    }
    reserve_more(out, table.size() + payload.size());  // at most one reallocation
    out.insert(out.end(), table.begin(), table.end());
    out.insert(out.end(), payload.begin(), payload.end());
}

std::vector<StreamRef> parse_stream_set(const uint8_t* blob, size_t size, const std::string& what) {
    ByteReader r(blob, size, what, ": stream table");
    uint64_t count = r.varint();
    if (count > size) fail(Errc::corrupt, what + ": implausible stream count");
    std::vector<StreamRef> refs(count);
    uint64_t payload_total = 0;
    for (auto& s : refs) {
        uint8_t c = r.u8();
        if (c > static_cast<uint8_t>(StreamCodec::word_rans)) fail(Errc::corrupt, what + ": unknown stream codec");
        s.codec = static_cast<StreamCodec>(c);
        switch (s.codec) {
            case StreamCodec::empty: break;
            case StreamCodec::raw: s.raw_size = s.stored_size = r.varint(); break;
            case StreamCodec::zstd:
            case StreamCodec::rans:
            case StreamCodec::word_rans:
                s.raw_size = r.varint();
                s.stored_size = r.varint();
                break;
            case StreamCodec::constant:
                s.raw_size = r.varint();
                s.fill = r.u8();
                break;
        }
        if (s.stored_size > size) fail(Errc::corrupt, what + ": stream larger than its blob");
        payload_total += s.stored_size;
    }
    if (payload_total != r.remaining()) fail(Errc::corrupt, what + ": stream sizes do not add up to the blob");
    const uint8_t* p = r.position();
    for (auto& s : refs) {
        s.payload = p;
        p += s.stored_size;
    }
    return refs;
}

StreamDecoder::StreamDecoder(KernelSet kernels, TableLookup lookup)
    : dctx_(ZSTD_createDCtx()), kernels_(kernels), lookup_(lookup) {
    if (!dctx_) fail(Errc::out_of_memory, "cannot create a zstd context");
}

StreamDecoder::~StreamDecoder() { ZSTD_freeDCtx(dctx_); }

void StreamDecoder::decode(const StreamRef& ref, uint8_t* dst, size_t dst_size, const std::string& what) {
    if (ref.raw_size != dst_size) fail(Errc::corrupt, what + ": stream has the wrong decoded size");
    switch (ref.codec) {
        case StreamCodec::empty: return;
        case StreamCodec::raw: std::memcpy(dst, ref.payload, dst_size); return;
        case StreamCodec::constant: std::memset(dst, ref.fill, dst_size); return;
        case StreamCodec::rans: rans_decode(ref.payload, ref.stored_size, dst, dst_size, rans_table_, what); return;
        case StreamCodec::word_rans:
            word_rans_decode_stream(kernels_, lookup_, ref.payload, ref.stored_size, dst, dst_size, word_table_, what);
            return;
        case StreamCodec::zstd: {
            size_t n = ZSTD_decompressDCtx(dctx_, dst, dst_size, ref.payload, ref.stored_size);
            if (ZSTD_isError(n) || n != dst_size)
                fail(Errc::corrupt, what + ": zstd stream does not decode" +
                                        (ZSTD_isError(n) ? std::string(" (") + ZSTD_getErrorName(n) + ")" : ""));
            return;
        }
    }
}

}  // namespace qstore
