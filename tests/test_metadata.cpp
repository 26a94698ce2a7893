// The metadata model (base/metadata.hpp) and its filling from a .qs metadata section
// (container/metadata_json.hpp): order, types, arrays, strings with their NULs, errors.
#include <catch2/catch.hpp>

#include <cstring>

#include "base/error.hpp"
#include "base/metadata.hpp"
#include "container/metadata_json.hpp"
#include "fixtures.hpp"

using qstore::Errc;
using qstore::Metadata;
using qstore::MetadataEntry;
using qstore::ValueType;

namespace {

template <class T>
std::vector<T> values_of(const MetadataEntry& e) {
    REQUIRE(e.bytes.size() == e.count * sizeof(T));
    std::vector<T> v(e.count);
    if (e.count) std::memcpy(v.data(), e.bytes.data(), e.bytes.size());
    return v;
}

}  // namespace

TEST_CASE("Metadata from JSON keeps the section's order and each value's type", "[metadata]") {
    const std::string json =
        R"({"generator":"qstore 1.4.0","safetensors_metadata":{"zeta":"last letter","alpha":"x",)"
        R"("n":42,"neg":-7,"pi":3.5,"yes":true,"names":["a","","ccc"],"ints":[1,2,300],"mixed_ints":[1,-2],)"
        R"("floats":[1,2.5],"flags":[true,false],"empty":[],"nested":{"k":1},"nothing":null,"mixed":[1,"a"]},)"
        R"("zstd_level":1})";
    const Metadata m = qstore::metadata_from_json(json, "f.qs");
    const std::vector<std::string> keys = {"zeta", "alpha", "n",     "neg",   "pi",     "yes",     "names",
                                           "ints", "mixed_ints", "floats", "flags", "empty", "nested", "nothing",
                                           "mixed"};
    REQUIRE(m.size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) CHECK(m.at(i).key == keys[i]);
    CHECK(m.at(0).type == ValueType::string);
    CHECK_FALSE(m.at(0).is_array);
    CHECK(m.at(0).string_at(0) == "last letter");
    CHECK(m.at(0).string_at(0).data()[m.at(0).string_at(0).size()] == '\0');
    CHECK((m.at(2).type == ValueType::u64 && values_of<uint64_t>(m.at(2)) == std::vector<uint64_t>{42}));
    CHECK((m.at(3).type == ValueType::i64 && values_of<int64_t>(m.at(3)) == std::vector<int64_t>{-7}));
    CHECK((m.at(4).type == ValueType::f64 && values_of<double>(m.at(4)) == std::vector<double>{3.5}));
    CHECK((m.at(5).type == ValueType::boolean && values_of<uint8_t>(m.at(5)) == std::vector<uint8_t>{1}));
    const MetadataEntry& names = m.at(6);
    CHECK((names.type == ValueType::string && names.is_array && names.count == 3));
    CHECK(names.string_at(0) == "a");
    CHECK(names.string_at(1).empty());
    CHECK(names.string_at(2) == "ccc");
    CHECK(qs_test::thrown_code([&] { names.string_at(3); }) == Errc::invalid_argument);
    CHECK((m.at(7).is_array && values_of<uint64_t>(m.at(7)) == std::vector<uint64_t>{1, 2, 300}));
    CHECK((m.at(8).type == ValueType::i64 && values_of<int64_t>(m.at(8)) == std::vector<int64_t>{1, -2}));
    CHECK((m.at(9).type == ValueType::f64 && values_of<double>(m.at(9)) == std::vector<double>{1, 2.5}));
    CHECK((m.at(10).type == ValueType::boolean && values_of<uint8_t>(m.at(10)) == std::vector<uint8_t>{1, 0}));
    CHECK((m.at(11).is_array && m.at(11).count == 0));
    // What the model cannot type stays visible as its JSON text.
    CHECK((m.at(12).type == ValueType::string && m.at(12).string_at(0) == R"({"k":1})"));
    CHECK(m.at(13).string_at(0) == "null");
    CHECK(m.at(14).string_at(0) == R"([1,"a"])");
    CHECK(m.find("ints") == 7);
    CHECK(m.find("generator") == SIZE_MAX);  // qstore's own keys are not the model's metadata
}

TEST_CASE("Metadata from JSON: none, empty, and sections that are not objects", "[metadata]") {
    CHECK(qstore::metadata_from_json("", "f.qs").size() == 0);
    CHECK(qstore::metadata_from_json(R"({"generator":"x"})", "f.qs").size() == 0);
    CHECK(qstore::metadata_from_json(R"({"safetensors_metadata":{}})", "f.qs").size() == 0);
    for (const char* bad : {"{", "[1,2]", "not json", R"({"safetensors_metadata":[1]})"}) {
        INFO(bad);
        CHECK(qs_test::thrown_code([&] { qstore::metadata_from_json(bad, "f.qs"); }) == Errc::corrupt);
    }
}

TEST_CASE("Metadata entries made as GGUF's typed key/values are", "[metadata]") {
    Metadata m;
    const uint32_t ctx = 4096;
    const float eps[2] = {1e-5f, 2.0f};
    const int8_t small[3] = {-1, 0, 1};
    m.add(MetadataEntry::numbers("llama.context_length", ValueType::u32, &ctx, 1, false));
    m.add(MetadataEntry::numbers("eps", ValueType::f32, eps, 2, true));
    m.add(MetadataEntry::numbers("small", ValueType::i8, small, 3, true));
    m.add(MetadataEntry::strings("tokenizer.ggml.tokens", {"<s>", "</s>", std::string("a\0b", 3)}));
    m.add(MetadataEntry::string("general.name", "tiny"));
    m.add(MetadataEntry::string("general.name", "second"));
    CHECK(m.find("general.name") == 4);  // the first of equal keys
    CHECK(values_of<uint32_t>(m.at(0)) == std::vector<uint32_t>{4096});
    CHECK(values_of<float>(m.at(1)) == std::vector<float>{1e-5f, 2.0f});
    CHECK(values_of<int8_t>(m.at(2)) == std::vector<int8_t>{-1, 0, 1});
    CHECK(m.at(3).string_at(2) == std::string_view("a\0b", 3));  // lengths, not NULs, delimit
    CHECK(m.at(3).string_at(1) == "</s>");
    CHECK(qstore::value_width(ValueType::f64) == 8);
    CHECK(qstore::value_width(ValueType::boolean) == 1);
    CHECK(qs_test::thrown_code([&] { MetadataEntry::numbers("x", ValueType::string, nullptr, 0, true); }) == Errc::internal);
    CHECK(qs_test::thrown_code([&] { MetadataEntry::numbers("x", ValueType::u8, small, 2, false); }) == Errc::internal);
}
