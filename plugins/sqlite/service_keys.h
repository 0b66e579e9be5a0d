// What the store keeps in memory of its services, so that a write needs no query: each service
// id's key, and each key's highest stored seq.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace driftwatch::sqlite_plugin {

// Lets the service id cache be searched with a C string, without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
};

// service id -> key
using ServiceKeys = std::unordered_map<std::string, long long, StringHash, std::equal_to<>>;
// key -> its highest stored seq
using MaxSeqs = std::unordered_map<long long, long long>;

}  // namespace driftwatch::sqlite_plugin
