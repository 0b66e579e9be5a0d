// What the store keeps in memory of its services (a service or an endpoint series, each stored
// under its own id), so that a write needs no query: each id's key and highest stored seq.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

struct ServiceRecord;

// The series whose samples are tags in one service's, by id, so that a write finds each without
// the map of every id (a write meets each of them once, and with thousands of series each look-up
// there misses the cache three times): their ids' hashes and texts side by side, and their
// records. A cache: a series not in it is found by its id.
class TaggedSeries {
 public:
  ServiceRecord* Find(std::string_view id) const {
    const size_t hash = StringHash()(id);
    for (const Entry& entry : entries_) {
      if (entry.hash == hash && entry.size == id.size() &&
          std::memcmp(texts_.data() + entry.offset, id.data(), id.size()) == 0) {
        return entry.record;
      }
    }
    return nullptr;
  }
  void Add(std::string_view id, ServiceRecord* record) {
    const size_t offset = texts_.size();
    texts_.append(id);  // first: should the entry fail to allocate, an unused text is harmless
    entries_.push_back({StringHash()(id), offset, id.size(), record});
  }
  void Remove(const ServiceRecord* record) {
    std::string texts;
    std::vector<Entry> entries;
    for (Entry entry : entries_) {
      if (entry.record == record) continue;
      const size_t offset = texts.size();
      texts.append(texts_, entry.offset, entry.size);
      entry.offset = offset;
      entries.push_back(entry);
    }
    texts_.swap(texts);
    entries_.swap(entries);
  }

 private:
  struct Entry {
    size_t hash = 0;
    size_t offset = 0;  // of its id in texts_
    size_t size = 0;
    ServiceRecord* record = nullptr;
  };
  std::vector<Entry> entries_;
  std::string texts_;
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
  // A service's: the series tagged in it that a write has met since the store opened. A tagged
  // series': whether it is in its service's list.
  std::unique_ptr<TaggedSeries> tagged_series;
  bool listed_as_tagged = false;
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
