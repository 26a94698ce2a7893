// Every output file of qstore (pack's .qs, unpack's .safetensors/.gguf) is written
// through AtomicFile: the bytes go to a new temporary file in the target's folder,
// named `.<name>.qstore-tmp-<pid>-<random>`; commit() syncs it, renames it over the
// target and syncs the folder. Until then the target keeps its old content (or stays
// absent); on any error, or when the object is destroyed without commit(), the
// temporary is removed. A temporary left by a killed process is removed by the next
// AtomicFile for the same target once that pid no longer runs.
//
// A target that is a symbolic link is written through the link (the file it points
// to is replaced, the link stays). An existing target's permission bits are kept
// (as the O_TRUNC rewrite kept them); a new file gets 0644 less the umask. The owner
// is the writing user, and hard links to the old file keep the old content.
#pragma once

#include <string>
#include <vector>

namespace qstore {

// Refuses, before any work, an output that cannot be written: a directory or other
// non-regular file, a folder that does not exist or is not writable, or the same file
// (same device and inode, links followed) as one of `inputs` (absent inputs are
// ignored). Errc::invalid_argument or Errc::io, naming the path.
void check_output_path(const std::string& target, const std::vector<std::string>& inputs = {});

// `target` with symbolic links of its last component followed (a dangling link gives
// the path it points to); other paths unchanged.
std::string resolve_output_link(const std::string& target);

class AtomicFile {
public:
    // Checks `target` (check_output_path without inputs), removes stale temporaries of
    // it and creates the temporary; Errc::io / invalid_argument on failure.
    explicit AtomicFile(const std::string& target);
    ~AtomicFile();  // without commit(): closes and removes the temporary
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    int fd() const { return fd_; }
    const std::string& temp_path() const { return temp_; }
    // fsync, close, rename over the target, fsync the folder. Errors are Errc::io; if
    // only the folder's sync fails the target already holds the new file.
    void commit();

private:
    void remove_stale_temporaries() const;
    std::string target_;  // as given (for messages)
    std::string final_;   // links followed: the name that is replaced
    std::string folder_;
    std::string temp_;
    int fd_ = -1;
    bool renamed_ = false;
};

// The temporary-name prefix of a target's base name (".<name>.qstore-tmp-"), with the
// name shortened so that a temporary's name stays within NAME_MAX.
std::string atomic_temp_prefix(const std::string& base_name);

}  // namespace qstore
