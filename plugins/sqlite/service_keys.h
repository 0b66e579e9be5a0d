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

// Sample tags (schema.sql), for a series whose samples are tags in another service's blocks.
struct SeriesTags {
  // That service's key (0: none yet), and the newest tag's seq and its place among that service's
  // seqs (so that a snapshot written after it knows where its samples start).
  long long tagged_in = 0;
  long long newest_tag_seq = 0;
  long long newest_tag_position = 0;
  // Its snapshot's last seq (0: none; kept for every series) and, for a tagged series, the seq of
  // its service from which a scan finds every sample after that snapshot (0: from the first).
  long long snapshot_seq = 0;
  long long tag_position = 0;
};

struct ServiceRecord {
  long long key = 0;
  long long max_seq = 0;  // its highest committed seq, of its own rows or its tags; 0: none
  SeriesTags tags;
  // A write's grouping of its samples (SqliteStore::GroupByKey): the write that last grouped the
  // service's samples, and their group in it. Found with the record, so a write looks each
  // service up once.
  uint64_t grouped_in = 0;
  size_t group = 0;
  // The same for the write's staging of its tags and snapshot (SqliteStore::StageOf).
  uint64_t staged_in = 0;
  size_t stage = 0;
};

// service id -> its record. A node-based map: a record stays where it is while its service is
// kept, so the store also reaches records by key (ServicesByKey) and a write by address.
using ServiceKeys = std::unordered_map<std::string, ServiceRecord, StringHash, std::equal_to<>>;
// key -> the record in ServiceKeys
using ServicesByKey = std::unordered_map<long long, ServiceRecord*>;

// At open: notes a tag found in the samples of the service with key `service_key` (a sample at
// `position` among its seqs), in the record of the tag's series. A tag whose series is gone
// (forgotten) or tagged in another service is not that series' any more: it is skipped.
inline void NoteTag(const ServicesByKey& services, long long service_key, long long position,
                    long long tag_key, long long tag_seq) {
  if (tag_key == 0) return;
  const auto found = services.find(tag_key);
  if (found == services.end() || found->second->tags.tagged_in != service_key) return;
  ServiceRecord& series = *found->second;
  if (tag_seq > series.tags.newest_tag_seq) {
    series.tags.newest_tag_seq = tag_seq;
    series.tags.newest_tag_position = position;
  }
  if (tag_seq > series.max_seq) series.max_seq = tag_seq;
}

}  // namespace driftwatch::sqlite_plugin
