// Writing a .qs file tensor by tensor (the C API's qs_writer; pack() is built on it).
// The caller adds tensors in file order; the writer's threads quantize, code and write
// them while the caller adds the next ones. A queue bounded in bytes
// (pack/tensor_queue.hpp) keeps memory at about one tensor per thread, plus the one
// being added (at least 8 MiB per thread): add_tensor blocks while it is full. Level 0 goes straight to the output, upper levels to
// unnamed temporaries appended after the index (pack/container_writer.hpp), and the
// file appears at its path only at finish(), atomically (io/atomic_file.hpp). The bytes
// written are the same for every thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_pool.hpp"
#include "pack/container_writer.hpp"
#include "pack/ordered_commit.hpp"
#include "pack/packer.hpp"
#include "pack/tensor_encoder.hpp"
#include "pack/tensor_queue.hpp"

namespace qstore {

// The schemes of options.low, lowest first; Errc::invalid_argument naming out_path if
// there are none, too many, or one is unknown.
std::vector<const LowScheme*> resolve_schemes(const PackOptions& options, const std::string& out_path);

// Where a tensor's low precision comes from.
enum class LowSource {
    quantize,  // qstore's quantizer, if the tensor qualifies (quantizable()); else stored as it is
    given,     // the GivenLowBytes passed along (the tensor must qualify; a pair only)
    as_is,     // none: stored as it is
};

class Writer {
public:
    // Checks `path` at once (check_output_path against `inputs`), resolves the schemes
    // and creates the temporary output. `expected_tensors` is the total that
    // options.progress is told (0: not known). A container (options.container) needs its
    // plan (pack/container_plan.hpp), made for the tensors that will be added, in order,
    // with options.low_raw.
    Writer(const std::string& path, const PackOptions& options, const std::vector<std::string>& inputs = {},
           size_t expected_tensors = 0, ContainerPlan plan = {});
    // Without finish(): aborts (stops the threads; no file, no temporary is left).
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // A string pair of the metadata (a key set again takes the new value).
    void set_metadata(const std::string& key, const std::string& value);
    // The metadata says the low precision was given ("low_source": "given"), as tensors
    // added with LowSource::given do.
    void declare_given_low() { given_low_ = true; }

    // Adds the next tensor: `t` says its name, dtype, shape and size (bytes), and
    // fill(dst) writes its t.size bytes to dst (called before add_tensor returns). Waits
    // while the queue is full. Errc::invalid_argument (nothing added) for a name that is
    // not valid UTF-8 or is taken, an unknown dtype, more than 8 dimensions, a size that
    // is not the shape's, given low bytes that do not fit, or after finish(); a failure
    // of the writer's threads is thrown here too.
    void add_tensor(const SafetensorsTensor& t, const std::function<void(uint8_t*)>& fill,
                    LowSource low = LowSource::quantize, GivenLowBytes given = {});
    // Writes the metadata and index and moves the file into place. The writer is then
    // finished (also if this fails: the output is then left as it was).
    PackStats finish();

    const std::vector<const LowScheme*>& schemes() const { return schemes_; }
    // The most tensor bytes held at once so far (queued, encoding or waiting to be
    // written): a test sees that memory stays bounded.
    uint64_t peak_held_bytes() const { return queue_.peak_bytes(); }

private:
    struct Job;
    // An encoded tensor waiting to be written, and the bytes it held in the queue.
    struct Encoded {
        EncodedTensor tensor;
        uint64_t held_bytes = 0;
    };

    void check_tensor(const SafetensorsTensor& t, LowSource low, const GivenLowBytes& given);
    bool stores_quantized(const SafetensorsTensor& t, LowSource low);
    void dispatch();
    void encode_run();
    void encode_one(std::unique_ptr<Job> job);
    void write_encoded(Encoded& done);
    std::string metadata_text() const;

    const std::string path_;
    const PackOptions options_;
    const std::vector<const LowScheme*> schemes_;
    std::vector<const LowScheme*> mix_schemes_;  // those of options.llama_mix_tensor
    const size_t expected_tensors_;
    std::map<std::string, std::string> metadata_;
    std::set<std::string> names_;
    bool given_low_ = false;
    size_t given_tensors_ = 0, own_tensors_ = 0;  // quantizable tensors by source (strict_given_low)
    size_t added_ = 0;
    size_t low_parts_ = 0;  // level-0 parts written (a container checks each against its plan)
    bool finished_ = false;

    ThreadPool pool_;
    TensorEncoder encoder_;
    ContainerWriter container_;
    ResourcePool<ReusableBytes> inputs_;
    TensorQueue<Job> queue_;
    // Written by one writer thread at a time (in order), read after they stop.
    std::vector<TensorRecord> records_;
    PackStats stats_;
    OrderedCommit<Encoded> ordered_;
    std::thread dispatcher_;
};

}  // namespace qstore
