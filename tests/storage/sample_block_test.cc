// The SQLite store's block format on its own (plugins/sqlite/sample_block, schema.sql): untagged
// blocks keep the format older files have, tags round-trip, a block built across commits (head and
// tails) is the block built at once, full() keeps every block within kMaxBlockBytes, and a damaged
// tag section is refused.
#include "plugins/sqlite/sample_block.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace driftwatch::sqlite_plugin {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
const double kNoPayload = std::numeric_limits<double>::quiet_NaN();
constexpr char kBadTags[] = "its tag section is malformed";

using Bytes = std::vector<uint8_t>;

// Which samples of a block carry a tag.
enum class Tagging { kNone, kFirst, kLast, kAll, kEveryOther };
constexpr Tagging kTaggings[] = {Tagging::kNone, Tagging::kFirst, Tagging::kLast, Tagging::kAll,
                                 Tagging::kEveryOther};

bool IsTagged(Tagging tagging, size_t index, size_t count) {
  switch (tagging) {
    case Tagging::kNone:
      return false;
    case Tagging::kFirst:
      return index == 0;
    case Tagging::kLast:
      return index + 1 == count;
    case Tagging::kAll:
      return true;
    case Tagging::kEveryOther:
      return index % 2 == 1;
  }
  return false;
}

// `count` samples with seqs 1..count, varied enough to cross bitmap bytes and varint lengths; tag
// keys and seqs run up to INT64_MAX.
std::vector<BlockSample> MakeSamples(size_t count, Tagging tagging) {
  std::vector<BlockSample> samples(count);
  for (size_t i = 0; i < count; ++i) {
    BlockSample& sample = samples[i];
    sample.seq = i + 1;
    sample.timestamp_ms = 1767225600000 + static_cast<int64_t>(i * i * 37) - (i % 3 == 0 ? 5 : 0);
    sample.latency_ms = 0.25 * static_cast<double>(i + 1);
    sample.payload_kb = i % 3 == 1 ? kNoPayload : 1.5 * static_cast<double>(i);
    if (IsTagged(tagging, i, count)) {
      sample.tag_key =
          i % 2 == 0 ? kInt64Max - static_cast<int64_t>(i) : 1 + static_cast<int64_t>(i);
      sample.tag_seq =
          i % 4 < 2 ? static_cast<uint64_t>(kInt64Max) : 1 + (uint64_t{1} << (7 * (i % 9)));
    }
  }
  return samples;
}

void Add(BlockEncoder& encoder, const BlockSample& sample) {
  encoder.Add(sample.timestamp_ms, sample.latency_ms, sample.payload_kb, sample.tag_key,
              sample.tag_seq);
}

Bytes Encode(const std::vector<BlockSample>& samples) {
  BlockEncoder encoder;
  encoder.Clear();
  for (const BlockSample& sample : samples) Add(encoder, sample);
  return encoder.Finish();
}

// DecodeBlock's answer for a block of `count` samples ending at seq `count`: "" when it is read.
std::string Problem(const Bytes& data, size_t count, std::vector<BlockSample>* out = nullptr) {
  std::vector<BlockSample> decoded;
  const auto samples = static_cast<int64_t>(count);
  const char* problem =
      DecodeBlock(data.data(), data.size(), samples, samples, out != nullptr ? out : &decoded);
  return problem != nullptr ? problem : "";
}

void ExpectSameSamples(const std::vector<BlockSample>& actual,
                       const std::vector<BlockSample>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    EXPECT_EQ(actual[i].seq, expected[i].seq);
    EXPECT_EQ(actual[i].timestamp_ms, expected[i].timestamp_ms);
    EXPECT_EQ(std::bit_cast<uint64_t>(actual[i].latency_ms),
              std::bit_cast<uint64_t>(expected[i].latency_ms));
    EXPECT_EQ(std::bit_cast<uint64_t>(actual[i].payload_kb),
              std::bit_cast<uint64_t>(expected[i].payload_kb));
    EXPECT_EQ(actual[i].tag_key, expected[i].tag_key);
    EXPECT_EQ(actual[i].tag_seq, expected[i].tag_seq);
  }
}

// Two samples as the format had them before tags: 1000 ms (latency 1.5, no payload), then 990 ms
// (latency 2, payload 3).
const Bytes kTwoUntagged = {
    0xD0, 0x0F,                                      // zigzag(1000) = 2000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // 1.5
    0x13,                                            // zigzag(-10) = 19
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,  // 2.0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40,  // 3.0
    0x02,                                            // the bitmap: only sample 1 has a payload
};

TEST(SampleBlock, UntaggedBlockIsTheFormatBeforeTags) {
  BlockEncoder old_shape;
  old_shape.Clear();
  old_shape.Add(1000, 1.5, kNoPayload);
  old_shape.Add(990, 2.0, 3.0);
  EXPECT_EQ(old_shape.FinishedCopy(), kTwoUntagged);
  EXPECT_EQ(old_shape.Finish(), kTwoUntagged);

  BlockEncoder zero_tags;
  zero_tags.Clear();
  zero_tags.Add(1000, 1.5, kNoPayload, 0, 0);
  zero_tags.Add(990, 2.0, 3.0, 0, 0);
  EXPECT_EQ(zero_tags.Finish(), kTwoUntagged);

  std::vector<BlockSample> decoded;
  ASSERT_EQ(Problem(kTwoUntagged, 2, &decoded), "");
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[1].timestamp_ms, 990);
  EXPECT_EQ(decoded[0].tag_key, 0);
  EXPECT_EQ(decoded[1].tag_seq, 0u);
}

TEST(SampleBlock, TagSectionSitsBeforeTheBitmap) {
  BlockEncoder encoder;
  encoder.Clear();
  encoder.Add(1000, 1.5, kNoPayload);
  encoder.Add(990, 2.0, 3.0, 300, 5);
  Bytes expected(kTwoUntagged.begin(), kTwoUntagged.end() - 1);
  expected.insert(expected.end(), {0x00, 0xAC, 0x02, 0x05});  // untagged; key 300, seq 5
  expected.push_back(kTwoUntagged.back());
  EXPECT_EQ(encoder.Finish(), expected);

  std::vector<BlockSample> decoded;
  ASSERT_EQ(Problem(expected, 2, &decoded), "");
  EXPECT_EQ(decoded[0].tag_key, 0);
  EXPECT_EQ(decoded[1].tag_key, 300);
  EXPECT_EQ(decoded[1].tag_seq, 5u);
}

TEST(SampleBlock, TagsRoundTrip) {
  for (const Tagging tagging : kTaggings) {
    for (const size_t count : {size_t{1}, size_t{2}, size_t{8}, size_t{9}, size_t{41}}) {
      SCOPED_TRACE("tagging " + std::to_string(static_cast<int>(tagging)) + ", count " +
                   std::to_string(count));
      const std::vector<BlockSample> samples = MakeSamples(count, tagging);
      std::vector<BlockSample> decoded;
      ASSERT_EQ(Problem(Encode(samples), count, &decoded), "");
      ExpectSameSamples(decoded, samples);
    }
  }
}

// A block filled across commits, as open_blocks.cc does it: each commit's samples go to a tail of
// the committed block, appended to it once committed; a block written out mid-commit is a copy of
// the committed one with the tail appended.
TEST(SampleBlock, HeadAndTailsMakeTheSameBlock) {
  constexpr size_t kCount = 23;
  for (const Tagging tagging : kTaggings) {
    const std::vector<BlockSample> samples = MakeSamples(kCount, tagging);
    const Bytes whole = Encode(samples);
    for (size_t split = 1; split < kCount; ++split) {
      for (const size_t per_tail : {size_t{1}, size_t{5}, kCount}) {
        SCOPED_TRACE("tagging " + std::to_string(static_cast<int>(tagging)) + ", split " +
                     std::to_string(split) + ", tails of " + std::to_string(per_tail));
        BlockEncoder committed;
        BlockEncoder reference;  // every sample added to one encoder
        committed.Clear();
        reference.Clear();
        for (size_t i = 0; i < split; ++i) {
          Add(committed, samples[i]);
          Add(reference, samples[i]);
        }
        for (size_t next = split; next < kCount;) {
          BlockEncoder tail;
          tail.StartAfter(committed);
          for (const size_t end = std::min(kCount, next + per_tail); next < end; ++next) {
            ASSERT_EQ(tail.count(), reference.count());
            EXPECT_EQ(tail.full(false), reference.full(false));
            EXPECT_EQ(tail.full(true), reference.full(true));
            Add(tail, samples[next]);
            Add(reference, samples[next]);
          }
          BlockEncoder written_out = committed;
          tail.AppendTo(written_out);
          EXPECT_EQ(written_out.Finish(), reference.FinishedCopy());
          tail.AppendTo(committed);
          EXPECT_EQ(committed.FinishedCopy(), reference.FinishedCopy());
          EXPECT_EQ(committed.full(false), reference.full(false));
          EXPECT_EQ(committed.full(true), reference.full(true));
        }
        EXPECT_EQ(committed.Finish(), whole);
      }
    }
  }
}

// The head without a tag and the tail with one, and the reverse, the tail ending mid bitmap byte.
TEST(SampleBlock, TailTagsTheBlockOrNot) {
  for (const bool head_tagged : {false, true}) {
    SCOPED_TRACE(head_tagged ? "tagged head" : "untagged head");
    std::vector<BlockSample> samples = MakeSamples(11, Tagging::kNone);
    for (size_t i = 0; i < samples.size(); ++i) {
      if ((i < 4) == head_tagged) {
        samples[i].tag_key = 7;
        samples[i].tag_seq = 100 + i;
      }
    }
    BlockEncoder head;
    head.Clear();
    for (size_t i = 0; i < 4; ++i) Add(head, samples[i]);
    BlockEncoder tail;
    tail.StartAfter(head);
    for (size_t i = 4; i < samples.size(); ++i) Add(tail, samples[i]);
    tail.AppendTo(head);
    const Bytes whole = Encode(samples);
    EXPECT_EQ(head.FinishedCopy(), whole);
    EXPECT_EQ(head.Finish(), whole);
    std::vector<BlockSample> decoded;
    ASSERT_EQ(Problem(whole, samples.size(), &decoded), "");
    ExpectSameSamples(decoded, samples);
  }
}

// A sample whose every varint takes the most bytes it can: timestamps 2^62 apart (zigzag 2^63),
// a payload, and (when tagged) a key of 9 bytes and a seq of 10 (more than a stored block may hold,
// but the most the encoder can be given).
void AddLargest(BlockEncoder& encoder, size_t index, bool tagged) {
  const auto timestamp = static_cast<int64_t>((index + 1) * (uint64_t{1} << 62));
  encoder.Add(timestamp, 1.0, 2.0, tagged ? kInt64Max : 0,
              tagged ? std::numeric_limits<uint64_t>::max() : 0);
}

TEST(SampleBlock, FullKeepsBlocksWithinTheirBytes) {
  struct Case {
    const char* name;
    bool largest;  // else small samples, many to a block: a late first tag adds a byte for each
    Tagging tagging;
    size_t tags_from = 0;  // with Tagging::kAll: untagged before this sample
  };
  const Case cases[] = {
      {"largest, none", true, Tagging::kNone},
      {"largest, all", true, Tagging::kAll},
      {"largest, every other", true, Tagging::kEveryOther},
      {"largest, tagged from 20", true, Tagging::kAll, 20},
      {"small, none", false, Tagging::kNone},
      {"small, all", false, Tagging::kAll},
      {"small, tagged from 60", false, Tagging::kAll, 60},
      {"small, tagged from 80", false, Tagging::kAll, 80},
      {"small, tagged from 95", false, Tagging::kAll, 95},  // the first tag would not fit
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (const bool split : {false, true}) {  // the last samples in a tail, or not
      BlockEncoder head;
      head.Clear();
      BlockEncoder tail;
      BlockEncoder* adding = &head;
      for (size_t i = 0;; ++i) {
        const bool tagged = IsTagged(c.tagging, i, 0) && i >= c.tags_from;
        if (adding->full(tagged)) break;
        if (split && i == 10) {
          tail.StartAfter(head);
          adding = &tail;
        }
        if (c.largest) {
          AddLargest(*adding, i, tagged);
        } else {
          adding->Add(static_cast<int64_t>(i), 1.0, kNoPayload, tagged ? 3 : 0, tagged ? i + 1 : 0);
        }
      }
      if (adding == &tail) tail.AppendTo(head);
      const size_t size = head.Finish().size();
      EXPECT_LE(size, kMaxBlockBytes);
      EXPECT_GT(size, kMaxBlockBytes - 100);  // full() is not merely always true
    }
  }
}

// Untagged blocks end where they always did: 55 samples of 17 bytes (a 1-byte timestamp delta and
// two doubles) and a bitmap bit, with room left for the largest sample (27 bytes with its bitmap
// byte), and no more.
TEST(SampleBlock, UntaggedBlocksFillAsBeforeTags) {
  BlockEncoder encoder;
  encoder.Clear();
  while (!encoder.full()) encoder.Add(encoder.count(), 1.0, 2.0);
  EXPECT_EQ(encoder.count(), 55u);
}

TEST(SampleBlock, RefusesDamagedTagSections) {
  // Three samples: untagged; key 2, seq 1; key 1, seq 300. No payload: the bitmap is one 0 byte.
  BlockEncoder encoder;
  encoder.Clear();
  encoder.Add(10, 1.0, kNoPayload);
  encoder.Add(20, 1.0, kNoPayload, 2, 1);
  encoder.Add(30, 1.0, kNoPayload, 1, 300);
  const Bytes good = encoder.Finish();
  const size_t samples_end = 3 * 9;
  const Bytes section = {0x00, 0x02, 0x01, 0x01, 0xAC, 0x02};
  ASSERT_EQ(good.size(), samples_end + section.size() + 1);
  ASSERT_EQ(Bytes(good.begin() + samples_end, good.end() - 1), section);
  ASSERT_EQ(Problem(good, 3), "");

  // `tags` in place of the section.
  const auto with_section = [&](const Bytes& tags) {
    Bytes block(good.begin(), good.begin() + samples_end);
    block.insert(block.end(), tags.begin(), tags.end());
    block.push_back(good.back());
    return block;
  };
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x01, 0x01, 0xAC}), 3), kBadTags);  // seq cut
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x01, 0x01}), 3), kBadTags);        // seq missing
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x01}), 3), kBadTags);  // an entry missing
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x01, 0x01, 0xAC, 0x02, 0x00}), 3),
            kBadTags);  // an entry too many
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x01, 0x01, 0xAC, 0x02, 0x05, 0x01}), 3),
            kBadTags);  // bytes past the last entry
  EXPECT_EQ(Problem(with_section({0x00, 0x02, 0x00, 0x01, 0xAC, 0x02}), 3), kBadTags);  // seq 0
  EXPECT_EQ(Problem(with_section({0x00, 0x00, 0x00}), 3), kBadTags);  // no sample tagged
  const Bytes above_int64 = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};  // 2^63
  Bytes key_too_large = {0x00, 0x01, 0x01};
  key_too_large.insert(key_too_large.end(), above_int64.begin(), above_int64.end());
  key_too_large.push_back(0x01);
  EXPECT_EQ(Problem(with_section(key_too_large), 3), kBadTags);
  Bytes seq_too_large = {0x00, 0x01, 0x01, 0x01};
  seq_too_large.insert(seq_too_large.end(), above_int64.begin(), above_int64.end());
  EXPECT_EQ(Problem(with_section(seq_too_large), 3), kBadTags);
  // The largest key and seq a block may hold are read.
  Bytes largest = {0x00, 0x01, 0x01};
  for (int i = 0; i < 2; ++i) {
    largest.insert(largest.end(), {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
  }
  std::vector<BlockSample> decoded;
  ASSERT_EQ(Problem(with_section(largest), 3, &decoded), "");
  EXPECT_EQ(decoded[2].tag_key, kInt64Max);
  EXPECT_EQ(decoded[2].tag_seq, static_cast<uint64_t>(kInt64Max));
  // A varint running into the bitmap is not read from it.
  Bytes into_bitmap(good.begin(), good.end());
  into_bitmap[into_bitmap.size() - 2] = 0x82;
  EXPECT_EQ(Problem(into_bitmap, 3), kBadTags);
}

TEST(SampleBlock, LogRowsCarryTags) {
  // Service 5: seqs 1..60, tagged on and off, enough to be split into two entries; service 9: a
  // seq gap after its first sample, which starts another entry, and only its last sample tagged.
  std::vector<LogEntry> expected(2);
  expected[0].service_key = 5;
  expected[0].samples = MakeSamples(60, Tagging::kEveryOther);
  expected[1].service_key = 9;
  expected[1].samples = MakeSamples(3, Tagging::kLast);
  expected[1].samples[1].seq = 8;
  expected[1].samples[2].seq = 9;
  LogRowEncoder row;
  row.Clear();
  EXPECT_TRUE(row.empty());
  for (const LogEntry& entry : expected) {
    for (const BlockSample& s : entry.samples) {
      row.Add(entry.service_key, static_cast<int64_t>(s.seq), s.timestamp_ms, s.latency_ms,
              s.payload_kb, s.tag_key, s.tag_seq);
    }
  }
  const Bytes data = row.Finish();
  std::vector<LogEntry> decoded;
  const char* problem = DecodeLogRow(data.data(), data.size(), &decoded);
  ASSERT_EQ(problem, nullptr) << problem;
  std::vector<LogEntry> merged;  // the entries of one service's contiguous seqs joined again
  size_t entries_of_5 = 0;
  for (const LogEntry& entry : decoded) {
    if (entry.service_key == 5) ++entries_of_5;
    if (!merged.empty() && merged.back().service_key == entry.service_key &&
        merged.back().samples.back().seq + 1 == entry.samples.front().seq) {
      merged.back().samples.insert(merged.back().samples.end(), entry.samples.begin(),
                                   entry.samples.end());
    } else {
      merged.push_back(entry);
    }
  }
  EXPECT_EQ(entries_of_5, 2u);  // a block within kMaxBlockBytes does not take 60 of them
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].service_key, 5);
  ExpectSameSamples(merged[0].samples, expected[0].samples);
  EXPECT_EQ(merged[1].service_key, 9);
  ExpectSameSamples(merged[1].samples, {expected[1].samples[0]});
  EXPECT_EQ(merged[2].service_key, 9);
  ExpectSameSamples(merged[2].samples, {expected[1].samples[1], expected[1].samples[2]});
}

// A service's first tag late in a block, where the tag section would no longer fit, starts the
// next entry.
TEST(SampleBlock, LogRowEntriesStayWithinTheBlockBytes) {
  LogRowEncoder row;
  row.Clear();
  for (int64_t seq = 1; seq <= 200; ++seq) {
    const bool tagged = seq > 95;
    row.Add(3, seq, seq, 1.0, kNoPayload, tagged ? 4 : 0, tagged ? static_cast<uint64_t>(seq) : 0);
  }
  const Bytes data = row.Finish();
  std::vector<LogEntry> decoded;
  const char* problem = DecodeLogRow(data.data(), data.size(), &decoded);
  ASSERT_EQ(problem, nullptr) << problem;
  ASSERT_GE(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].samples.size(), 95u);  // all untagged: the first tag would not fit
  uint64_t next_seq = 1;
  for (const LogEntry& entry : decoded) {
    EXPECT_LE(Encode(entry.samples).size(), kMaxBlockBytes);  // the same bytes as in the row
    for (const BlockSample& sample : entry.samples) {
      EXPECT_EQ(sample.seq, next_seq);
      EXPECT_EQ(sample.tag_seq, sample.seq > 95 ? sample.seq : 0);
      ++next_seq;
    }
  }
  EXPECT_EQ(next_seq, 201u);
}

}  // namespace
}  // namespace driftwatch::sqlite_plugin
