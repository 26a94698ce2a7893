// A "stream set": several byte streams stored back to back, each compressed on its
// own (empty, raw, a single repeated byte, one zstd frame, or static rANS), behind a
// small table. Codes and residual tokens are split into streams of similar bytes so
// that an order-0 coder sees one distribution per stream; the encoder keeps the smallest
// coding it tried for each stream. Layout: docs/FORMAT.md §6.
#pragma once

#include <zstd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/cpu.hpp"
#include "base/reusable_bytes.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_word.hpp"

namespace qstore {

// word_rans: since format 1.2.
enum class StreamCodec : uint8_t { empty = 0, raw = 1, zstd = 2, constant = 3, rans = 4, word_rans = 5 };

// Owns a zstd compression context; one per thread. Word-rANS streams are coded with
// `kernels` (every kernel set writes the same bytes).
class StreamEncoder {
public:
    StreamEncoder(int zstd_level, KernelSet kernels);
    ~StreamEncoder();
    StreamEncoder(const StreamEncoder&) = delete;
    StreamEncoder& operator=(const StreamEncoder&) = delete;

    // Encodes `streams` (pointer, length pairs) into one stream-set blob.
    void encode(const std::vector<std::pair<const uint8_t*, size_t>>& streams, ByteVector& out);
    // True once a rans or word_rans stream was written (each holds a rANS model, which
    // decides the file's format version: container/format.hpp, FormatFeatures).
    bool wrote_rans_model() const { return wrote_rans_model_; }

private:
    // False when a sample of a long stream says zstd would not beat rANS (no trial).
    bool zstd_may_win(const uint8_t* data, size_t n, const std::array<uint64_t, 256>& count);
    ZSTD_CCtx* cctx_;
    int level_;
    KernelSet kernels_;
    // Working buffers, kept from call to call (large ones would be page-faulted in anew).
    ReusableBytes zstd_out_;  // never zero-filled
    RansEncodeScratch rans_;
    WordRansEncodeScratch word_rans_;
    ByteVector rans_scratch_;
    ByteVector table_;
    ByteVector payload_;
    bool wrote_rans_model_ = false;
};

struct StreamRef {
    StreamCodec codec = StreamCodec::empty;
    uint64_t raw_size = 0;
    const uint8_t* payload = nullptr;  // stored bytes (raw, zstd frame or rANS stream)
    uint64_t stored_size = 0;
    uint8_t fill = 0;  // for constant
};

// Parses a stream-set blob; throws Errc::corrupt on any inconsistency.
std::vector<StreamRef> parse_stream_set(const uint8_t* blob, size_t size, const std::string& what);

// Decodes streams: owns a zstd decompression context and the rANS tables, reused from
// stream to stream; one per thread. Word-rANS streams are decoded with `kernels` and
// `lookup`.
class StreamDecoder {
public:
    StreamDecoder(KernelSet kernels, TableLookup lookup);
    ~StreamDecoder();
    StreamDecoder(const StreamDecoder&) = delete;
    StreamDecoder& operator=(const StreamDecoder&) = delete;

    // Decodes one stream into dst, which must hold exactly ref.raw_size bytes.
    void decode(const StreamRef& ref, uint8_t* dst, size_t dst_size, const std::string& what);

private:
    ZSTD_DCtx* dctx_;
    KernelSet kernels_;
    TableLookup lookup_;
    RansTable rans_table_;
    WordRansTableStorage word_table_;
};

}  // namespace qstore
