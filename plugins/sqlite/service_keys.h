// What the store keeps in memory of its services (a service or an endpoint series, each stored
// under its own id), so that a write needs no query: each id's key and highest stored seq.
#pragma once

#include <cstddef>
#include <cstdint>
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

struct ServiceRecord {
  long long key = 0;
  long long max_seq = 0;  // its highest committed seq; 0: none
  // A write's grouping of its samples (SqliteStore::GroupByKey): the write that last grouped the
  // service's samples, and their group in it. Found with the record, so a write looks each
  // service up once.
  uint64_t grouped_in = 0;
  size_t group = 0;
};

// service id -> its record. A node-based map: a record stays where it is while its service is
// kept, so the store also reaches records by key (ServicesByKey) and a write by address.
using ServiceKeys = std::unordered_map<std::string, ServiceRecord, StringHash, std::equal_to<>>;
// key -> the record in ServiceKeys
using ServicesByKey = std::unordered_map<long long, ServiceRecord*>;

}  // namespace driftwatch::sqlite_plugin
