// Encoding one tensor of a pack into the parts of its precision levels, in memory:
// passthrough tensors as they are; quantized ones as low codes, scales (and zero
// points) per low level, code residuals between levels of a chain, and the residual to
// the high precision, each coded block by block on the pack's threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/reusable_bytes.hpp"
#include "base/thread_pool.hpp"
#include "container/format.hpp"
#include "entropy/stream_set.hpp"
#include "io/safetensors.hpp"
#include "pack/container_writer.hpp"
#include "pack/packer.hpp"
#include "schemes/scheme.hpp"

namespace qstore {

// The tensor as a matrix: rows = dimension 0, columns = the product of the others.
Geometry geometry_of(const SafetensorsTensor& t);
// Coding blocks are whole rows, about block_elements elements each.
uint64_t rows_per_block(const Geometry& g, uint64_t block_elements);
bool one_coding_block(const SafetensorsTensor& t, uint64_t block_elements);
// Whether the pack quantizes t (given low codes permitting): a float tensor of two or
// more dimensions, not excluded, whose shape every scheme takes.
bool quantizable(const SafetensorsTensor& t, const PackOptions& o, const std::vector<const LowScheme*>& schemes);

// The encoded blocks of one tensor, every level's, back to back in one buffer reused
// from tensor to tensor (one per tensor being encoded): blocks are encoded in parallel
// into their thread's scratch and copied in as they complete. One reused buffer rather
// than a vector per block spares a page fault per 4 KiB of every block.
class BlockArena {
public:
    void reset(size_t count);                     // a tensor of `count` empty slots
    void put(size_t i, const ByteVector& bytes);  // slot i's bytes; from any thread
    std::vector<BlockRef> blocks(size_t first, size_t count) const;  // once all are put

private:
    std::mutex mutex_;
    // On 2 MiB pages only from 2 MiB: one arena per tensor in flight, mostly small.
    ReusableBytes bytes_{size_t(2) << 20};
    size_t used_ = 0;
    std::vector<std::pair<size_t, size_t>> slots_;  // offset, size
};

// A tensor's low precision made elsewhere (`qstore pack --low FILE`, qs_given_low): its
// codes, scales and zero points in the native layout of the pack's one scheme
// (schemes/layout.hpp); scales and zero points empty when the scheme has none.
struct GivenLowBytes {
    std::vector<uint8_t> codes, scales, zero_points;
};

// One tensor to encode, its bytes in memory. `tensor` describes it (name, dtype, shape,
// size); its data and source are not used.
struct TensorInput {
    SafetensorsTensor tensor;
    bool quantize = false;                // false: stored as it is, from `bytes`
    ByteVector bytes;                     // a passthrough tensor's bytes (moved into its part)
    const uint8_t* high = nullptr;        // a quantized tensor's tensor.size bytes
    const GivenLowBytes* given = nullptr; // a quantized tensor's given low precision (nullptr: quantized here)
    // A quantized tensor's low precisions when they are not the pack's (the output
    // tensor of llama-quantize's mix, PackOptions::llama_mix_tensor); null: the pack's.
    const std::vector<const LowScheme*>* schemes = nullptr;
};

// A tensor encoded in memory; its parts get their offsets when it is written.
struct EncodedTensor {
    TensorRecord record;                           // levels sized, parts empty
    std::vector<std::vector<PendingPart>> levels;  // per level, in file order
    const GivenLowBytes* given = nullptr;          // the given low precision it was coded with
    const std::vector<const LowScheme*>* schemes = nullptr;  // its low precisions, lowest first
    uint64_t low_separate_bytes = 0;
    std::optional<ResourcePool<BlockArena>::Lease> arena;  // its blocks (quantized tensors)
};

// What encoding tensors needs, shared by the threads that encode tensors side by side.
class TensorEncoder {
public:
    TensorEncoder(const PackOptions& options, const std::vector<const LowScheme*>& schemes, ThreadPool& pool);
    ~TensorEncoder();

    // Moves a passthrough input's bytes into its part; reads a quantized one's.
    EncodedTensor encode(TensorInput& input);
    // Everything the tensors encoded so far use beyond format 1.0.
    FormatFeatures features() const;

private:
    struct Scratch;
    struct LevelBuffers;

    EncodedTensor passthrough(TensorInput& input);
    void load_levels(const SafetensorsTensor& t, const EncodedTensor& e, const uint8_t* high,
                     std::vector<LevelBuffers>& levels);
    void note_tiny_int8_scales(const std::vector<LevelBuffers>& levels);
    void encode_blocks(const SafetensorsTensor& t, const EncodedTensor& e, const uint8_t* high,
                       std::vector<LevelBuffers>& levels, BlockArena& arena);
    void collect_parts(const Geometry& g, std::vector<LevelBuffers>& levels, EncodedTensor& e);
    void note(const FormatFeatures& f);

    const PackOptions& options_;
    const KernelSet kernels_;  // options_.kernel_set, lowered to what the CPU runs
    const std::vector<const LowScheme*>& schemes_;
    ThreadPool& pool_;
    ResourcePool<Scratch> scratch_;
    ResourcePool<BlockArena> arenas_;
    ResourcePool<std::vector<LevelBuffers>> level_pool_;
    mutable std::mutex features_mutex_;
    FormatFeatures features_;
};

}  // namespace qstore
