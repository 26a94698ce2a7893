// AtomicFile (io/atomic_file.hpp), the one way qstore writes an output file: the
// target is replaced only by commit(), keeps its old bytes otherwise, and no temporary
// stays; permission bits, umask, symbolic links, stale temporaries of dead processes;
// check_output_path's refusals; the writers (SafetensorsWriter, GgufWriter, pack)
// leave an old target alone when they do not finish. The CLI under injected faults and
// kill -9: test_atomic_writes.py.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "io/atomic_file.hpp"
#include "base/error.hpp"
#include "io/file_sink.hpp"
#include "fixtures.hpp"
#include "io/gguf.hpp"
#include "pack/packer.hpp"

using namespace qs_test;
namespace fs = std::filesystem;

namespace {

const std::vector<uint8_t> kOld = {'o', 'l', 'd', '\n'};
const std::vector<uint8_t> kNew = {'n', 'e', 'w', ' ', 'b', 'y', 't', 'e', 's', '\n'};

// Names in the folder that look like qstore temporaries.
std::vector<std::string> temporaries(const TempDir& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir.path()))
        if (e.path().filename().string().find(".qstore-tmp-") != std::string::npos)
            out.push_back(e.path().filename().string());
    return out;
}

void write_new(qstore::AtomicFile& f) { qstore::write_all(f.fd(), kNew.data(), kNew.size(), "test"); }

mode_t mode_of(const std::string& path) {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// A pid that no longer runs: a child that has exited and been waited for.
pid_t dead_pid() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    REQUIRE(pid > 0);
    REQUIRE(::waitpid(pid, nullptr, 0) == pid);
    return pid;
}

}  // namespace

TEST_CASE("commit replaces the target, without it the old bytes stay and no temporary remains", "[atomic]") {
    TempDir dir;
    const std::string target = dir.file("out.bin");
    write_file(target, kOld);
    {
        qstore::AtomicFile f(target);
        write_new(f);
        CHECK(read_file(target) == kOld);  // not yet
        CHECK(temporaries(dir).size() == 1);
    }
    CHECK(read_file(target) == kOld);
    CHECK(temporaries(dir).empty());
    {
        qstore::AtomicFile f(target);
        write_new(f);
        f.commit();
    }
    CHECK(read_file(target) == kNew);
    CHECK(temporaries(dir).empty());
    {
        qstore::AtomicFile f(dir.file("absent.bin"));
        write_new(f);
    }
    CHECK_FALSE(fs::exists(dir.file("absent.bin")));
    CHECK(temporaries(dir).empty());
}

TEST_CASE("an existing target's permission bits are kept, a new file follows the umask", "[atomic]") {
    TempDir dir;
    const std::string target = dir.file("private.bin");
    write_file(target, kOld);
    REQUIRE(::chmod(target.c_str(), 0600) == 0);
    const mode_t old_umask = ::umask(027);
    {
        qstore::AtomicFile f(target);
        write_new(f);
        f.commit();
        qstore::AtomicFile g(dir.file("fresh.bin"));
        write_new(g);
        g.commit();
    }
    ::umask(old_umask);
    CHECK(mode_of(target) == 0600);
    CHECK(mode_of(dir.file("fresh.bin")) == 0640);
}

TEST_CASE("a symbolic link is written through: the file it points to is replaced", "[atomic]") {
    TempDir dir;
    fs::create_directory(dir.file("real"));
    write_file(dir.file("real/model.bin"), kOld);
    fs::create_symlink("real/model.bin", dir.file("link.bin"));
    fs::create_symlink("real/later.bin", dir.file("dangling.bin"));
    for (const char* link : {"link.bin", "dangling.bin"}) {
        qstore::AtomicFile f(dir.file(link));
        write_new(f);
        f.commit();
        CHECK(fs::is_symlink(dir.file(link)));
        CHECK(read_file(dir.file(link)) == kNew);
    }
    CHECK(read_file(dir.file("real/model.bin")) == kNew);
    CHECK(read_file(dir.file("real/later.bin")) == kNew);
}

TEST_CASE("stale temporaries of the same target are removed only if their process is gone", "[atomic]") {
    TempDir dir;
    const std::string prefix = qstore::atomic_temp_prefix("m.qs");
    const std::string dead = prefix + std::to_string(dead_pid()) + "-0123456789abcdef";
    const std::string alive = prefix + std::to_string(::getppid()) + "-0123456789abcdef";
    const std::string other_target = qstore::atomic_temp_prefix("n.qs") + std::to_string(dead_pid()) + "-0123456789abcdef";
    const std::string not_ours = prefix + "12-notours";
    for (const auto& name : {dead, alive, other_target, not_ours}) write_file(dir.file(name), kOld);
    {
        qstore::AtomicFile f(dir.file("m.qs"));
        CHECK_FALSE(fs::exists(dir.file(dead)));
        write_new(f);
        f.commit();
    }
    CHECK(fs::exists(dir.file(alive)));
    CHECK(fs::exists(dir.file(other_target)));
    CHECK(fs::exists(dir.file(not_ours)));
    CHECK(read_file(dir.file("m.qs")) == kNew);
}

TEST_CASE("a long file name still gets a temporary within NAME_MAX", "[atomic]") {
    TempDir dir;
    const std::string target = dir.file(std::string(250, 'x'));
    qstore::AtomicFile f(target);
    CHECK(fs::path(f.temp_path()).filename().string().size() <= 255);
    write_new(f);
    f.commit();
    CHECK(read_file(target) == kNew);
}

TEST_CASE("check_output_path refuses directories, missing folders and the inputs themselves", "[atomic]") {
    TempDir dir;
    const std::string in = dir.file("in.bin");
    write_file(in, kOld);
    fs::create_hard_link(in, dir.file("hard.bin"));
    fs::create_symlink("in.bin", dir.file("soft.bin"));
    fs::create_directory(dir.file("sub"));
    auto code_of = [](const std::string& target, const std::vector<std::string>& inputs) {
        try {
            qstore::check_output_path(target, inputs);
        } catch (const qstore::Error& e) {
            return e.code();
        }
        return qstore::Errc::ok;
    };
    CHECK(code_of(in, {in}) == qstore::Errc::invalid_argument);
    CHECK(code_of(dir.file("hard.bin"), {in}) == qstore::Errc::invalid_argument);
    CHECK(code_of(dir.file("soft.bin"), {in}) == qstore::Errc::invalid_argument);
    CHECK(code_of(in, {dir.file("soft.bin")}) == qstore::Errc::invalid_argument);
    CHECK(code_of(dir.file("sub"), {}) == qstore::Errc::invalid_argument);
    CHECK(code_of(dir.file("missing/x"), {}) == qstore::Errc::io);
    CHECK(code_of(dir.file("in.bin/x"), {}) == qstore::Errc::invalid_argument);
    CHECK(code_of(dir.file("new.bin"), {in}) == qstore::Errc::ok);
    CHECK(code_of(dir.file("other.bin"), {in, dir.file("absent")}) == qstore::Errc::ok);
    CHECK(read_file(in) == kOld);
}

TEST_CASE("unfinished safetensors and GGUF writers leave the old target as it was", "[atomic]") {
    TempDir dir;
    write_file(dir.file("m.safetensors"), kOld);
    write_file(dir.file("m.gguf"), kOld);
    {
        qstore::SafetensorsWriter w(dir.file("m.safetensors"), {{"t", qstore::DType::f32, {2}, 8}}, {});
        const float v[2] = {1.0f, 2.0f};
        w.write_next(v, sizeof v);
        qstore::GgufWriter g(dir.file("m.gguf"), {{"t", qstore::GgmlType::f32, {2}, 8}}, {});
        g.write_next(v, sizeof v);
    }  // destroyed without finish(), as when an exception passes
    CHECK(read_file(dir.file("m.safetensors")) == kOld);
    CHECK(read_file(dir.file("m.gguf")) == kOld);
    CHECK(temporaries(dir).empty());
}

TEST_CASE("pack refuses a shard of its own sharded input before writing anything", "[atomic]") {
    Gen g(19);
    TempDir dir;
    write_safetensors(dir.file("model-00001-of-00002.safetensors"), {g.float_tensor("a.weight", qstore::DType::bf16, {8, 8})});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"), {g.float_tensor("b.weight", qstore::DType::f32, {4, 8})});
    const std::string index = R"({"weight_map": {"a.weight": "model-00001-of-00002.safetensors", )"
                              R"("b.weight": "model-00002-of-00002.safetensors"}})";
    write_file(dir.file("model.safetensors.index.json"), reinterpret_cast<const uint8_t*>(index.data()), index.size());
    const std::string shard2 = dir.file("model-00002-of-00002.safetensors");
    const std::vector<uint8_t> before = read_file(shard2);
    qstore::SafetensorsReader high(dir.path());
    try {
        qstore::pack(high, nullptr, qstore::PackOptions{}, shard2);
        FAIL("pack wrote over its own input");
    } catch (const qstore::Error& e) {
        CHECK(e.code() == qstore::Errc::invalid_argument);
        CHECK(std::string(e.what()).find("same file as the input") != std::string::npos);
    }
    CHECK(read_file(shard2) == before);
    CHECK(temporaries(dir).empty());
}
