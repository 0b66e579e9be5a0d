#include "core/baseline_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace driftwatch {
namespace {

constexpr double kNoPayload = std::numeric_limits<double>::quiet_NaN();

double Percentile(std::vector<double> values, double q) { return LinearPercentile(values, q); }

// The expected values below were computed with numpy 1.24 (numpy.percentile, default method).
TEST(LinearPercentileTest, MatchesNumpyOnSmallArrays) {
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 95), 3.8499999999999996);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 99), 3.9699999999999998);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 0), 1.0);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 100), 4.0);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 25), 1.75);
  EXPECT_EQ(Percentile({3, 1, 2}, 50), 2.0);  // an exact rank: no interpolation
  EXPECT_EQ(Percentile({3, 1, 2}, 95), 2.9);
  EXPECT_EQ(Percentile({3, 1, 2}, 99), 2.98);
  EXPECT_EQ(Percentile({9, 4, 5, 2, 4, 7, 4, 5}, 50), 4.5);  // unsorted, with ties
  EXPECT_EQ(Percentile({9, 4, 5, 2, 4, 7, 4, 5}, 95), 8.299999999999999);
  EXPECT_EQ(Percentile({9, 4, 5, 2, 4, 7, 4, 5}, 99), 8.86);
  for (const double q : {0.0, 50.0, 99.0, 100.0}) EXPECT_EQ(Percentile({7.5}, q), 7.5);
}

// numpy interpolates from the nearer end (b - (b - a) * (1 - t) when t >= 0.5); a plain
// a + (b - a) * t differs from it in the last bit for these inputs.
TEST(LinearPercentileTest, InterpolatesFromTheNearerEndLikeNumpy) {
  EXPECT_EQ(Percentile({566.784, 536.619, 948.949, 613.737, 70.316}, 99), 935.5405199999999);
  EXPECT_EQ(Percentile({665.228, 380.882, 505.943, 970.93, 598.778, 692.686, 45.237}, 99),
            954.2353599999998);
  EXPECT_EQ(Percentile({341.955, 91.094, 239.127, 258.358, 569.618, 887.251, 749.658, 412.782,
                        413.884, 524.168},
                       95),
            825.3341499999998);
}

std::vector<double> LargeSeries(int modulus) {
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) values.push_back((i * 7919) % modulus / 7.0 + 100.0);
  return values;
}

TEST(LinearPercentileTest, MatchesNumpyOnAThousandValues) {
  const std::vector<double> values = LargeSeries(1000);
  EXPECT_EQ(Percentile(values, 50), 171.35714285714286);
  EXPECT_EQ(Percentile(values, 95), 235.57857142857142);
  EXPECT_EQ(Percentile(values, 99), 241.28714285714284);
}

Sample At(int64_t timestamp_ms, double latency_ms, double payload_kb = kNoPayload) {
  return Sample{timestamp_ms, latency_ms, payload_kb};
}

std::vector<double> Latencies(const BaselineWindow& window) {
  std::vector<double> values;
  for (const Sample& sample : window.Samples()) values.push_back(sample.latency_ms);
  return values;
}

TEST(BaselineWindowTest, KeepsTheMostRecentSamplesOldestFirst) {
  BaselineWindow window(3);
  EXPECT_EQ(window.size(), 0u);
  EXPECT_EQ(window.NewestTimestamp(), 0);
  for (int i = 1; i <= 5; ++i) window.Append(At(i * 10, i));
  EXPECT_EQ(window.size(), 3u);
  EXPECT_EQ(window.capacity(), 3u);
  EXPECT_EQ(Latencies(window), (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(window.NewestTimestamp(), 50);
  window.Clear();
  EXPECT_EQ(window.size(), 0u);
  window.Append(At(7, 70));
  EXPECT_EQ(Latencies(window), (std::vector<double>{70}));
}

TEST(BaselineWindowTest, EvictionDropsOnlyOlderSamplesAndKeepsOrder) {
  BaselineWindow window(5);
  // Wrapped around once, with timestamps out of order (samples carry their own).
  for (const auto& [ts, value] : std::vector<std::pair<int64_t, double>>{
           {100, 1}, {500, 2}, {200, 3}, {400, 4}, {150, 5}, {300, 6}, {250, 7}}) {
    window.Append(At(ts, value));
  }
  EXPECT_EQ(Latencies(window), (std::vector<double>{3, 4, 5, 6, 7}));
  EXPECT_EQ(window.NewestTimestamp(), 400);
  window.EvictOlderThan(250);  // exactly 250 stays
  EXPECT_EQ(Latencies(window), (std::vector<double>{4, 6, 7}));
  window.Append(At(600, 8));
  window.Append(At(700, 9));
  window.Append(At(800, 10));
  EXPECT_EQ(Latencies(window), (std::vector<double>{6, 7, 8, 9, 10}));
}

TEST(BaselineWindowTest, ComputesMeanSampleStddevAndPercentiles) {
  BaselineWindow window(8);
  for (const double value : {9.0, 4.0, 5.0, 2.0, 4.0, 7.0, 4.0, 5.0}) window.Append(At(1, value));
  const Baseline b = window.Compute(12345);
  EXPECT_TRUE(b.valid);
  EXPECT_EQ(b.sample_count, 8u);
  EXPECT_EQ(b.last_updated_ms, 12345);
  EXPECT_DOUBLE_EQ(b.mean_latency, 5.0);
  EXPECT_DOUBLE_EQ(b.stddev_latency, std::sqrt(32.0 / 7.0));  // n - 1, numpy: 2.138089935299395
  EXPECT_EQ(b.p50_latency, 4.5);
  EXPECT_EQ(b.p95_latency, 8.299999999999999);
  EXPECT_EQ(b.p99_latency, 8.86);
  EXPECT_FALSE(b.has_payload);
  // Computing leaves the window as it was.
  EXPECT_EQ(Latencies(window), (std::vector<double>{9, 4, 5, 2, 4, 7, 4, 5}));
}

TEST(BaselineWindowTest, PayloadStatisticsUseOnlySamplesThatCarryOne) {
  BaselineWindow window(10);
  window.Append(At(1, 100, 1.5));
  window.Append(At(2, 200));
  window.Append(At(3, 300, 2.5));
  window.Append(At(4, 400));
  window.Append(At(5, 500, 4.0));
  const Baseline b = window.Compute(5);
  EXPECT_EQ(b.sample_count, 5u);
  EXPECT_DOUBLE_EQ(b.mean_latency, 300.0);
  EXPECT_TRUE(b.has_payload);
  EXPECT_DOUBLE_EQ(b.mean_payload, 8.0 / 3.0);
  EXPECT_DOUBLE_EQ(b.stddev_payload, 1.2583057392117916);  // numpy std(ddof=1) of the three

  BaselineWindow one_payload(10);
  one_payload.Append(At(1, 100));
  one_payload.Append(At(2, 100, 3.0));
  const Baseline single = one_payload.Compute(2);
  EXPECT_TRUE(single.has_payload);
  EXPECT_EQ(single.mean_payload, 3.0);
  EXPECT_EQ(single.stddev_payload, 0.0);
}

TEST(BaselineWindowTest, SingleSampleAndConstantSeriesHaveZeroStddev) {
  BaselineWindow window(100);
  window.Append(At(1, 42.0));
  EXPECT_EQ(window.Compute(1).stddev_latency, 0.0);
  for (int i = 0; i < 99; ++i) window.Append(At(1, 42.0));
  const Baseline b = window.Compute(1);
  EXPECT_EQ(b.mean_latency, 42.0);
  EXPECT_EQ(b.stddev_latency, 0.0);
  EXPECT_EQ(b.p50_latency, 42.0);
  EXPECT_EQ(b.p99_latency, 42.0);
}

// A full, wrapped window against a sorted copy and the same formula, and numpy's values.
TEST(BaselineWindowTest, LargeWrappedWindowMatchesNumpy) {
  BaselineWindow window(1000);
  for (int i = 0; i < 37; ++i) window.Append(At(i, -1.0));  // pushed out by what follows
  const std::vector<double> values = LargeSeries(1000);
  for (size_t i = 0; i < values.size(); ++i) window.Append(At(100 + i, values[i]));
  const Baseline b = window.Compute(1);
  EXPECT_EQ(b.sample_count, 1000u);
  EXPECT_NEAR(b.mean_latency, 171.35714285714283, 1e-9);
  EXPECT_NEAR(b.stddev_latency, 41.25991944224991, 1e-9);
  EXPECT_EQ(b.p50_latency, 171.35714285714286);
  EXPECT_EQ(b.p95_latency, 235.57857142857142);
  EXPECT_EQ(b.p99_latency, 241.28714285714284);

  // Another series, whose ranks fall between distinct values.
  for (const double value : LargeSeries(1001)) window.Append(At(5000, value - 100.0));
  const Baseline other = window.Compute(2);
  EXPECT_EQ(other.p50_latency, 71.5);
  EXPECT_EQ(other.p95_latency, 135.72142857142856);
  EXPECT_EQ(other.p99_latency, 141.42999999999998);
}

// ---- the encoding: the window's contents and statistics never change ---------------------------

uint64_t Bits(double value) { return std::bit_cast<uint64_t>(value); }

void ExpectSameSample(const Sample& actual, const Sample& expected) {
  EXPECT_EQ(actual.timestamp_ms, expected.timestamp_ms);
  EXPECT_EQ(Bits(actual.latency_ms), Bits(expected.latency_ms));
  EXPECT_EQ(Bits(actual.payload_kb), Bits(expected.payload_kb));
}

// The window holds exactly `expected`, bit for bit.
void ExpectContains(const BaselineWindow& window, const std::vector<Sample>& expected) {
  const std::vector<Sample> samples = window.Samples();
  ASSERT_EQ(window.size(), samples.size());
  ASSERT_EQ(samples.size(), expected.size());
  for (size_t i = 0; i < samples.size(); ++i) ExpectSameSample(samples[i], expected[i]);
}

// The window holds exactly the last window.size() of `appended`, bit for bit.
void ExpectHolds(const BaselineWindow& window, const std::vector<Sample>& appended) {
  ASSERT_LE(window.size(), appended.size());
  ExpectContains(window, std::vector<Sample>(appended.end() - window.size(), appended.end()));
}

// The samples of `appended` with timestamp_ms >= cutoff_ms, in order.
std::vector<Sample> NotOlderThan(const std::vector<Sample>& appended, int64_t cutoff_ms) {
  std::vector<Sample> kept;
  for (const Sample& sample : appended) {
    if (sample.timestamp_ms >= cutoff_ms) kept.push_back(sample);
  }
  return kept;
}

// Mean and sample standard deviation of plain doubles, summed the way Compute documents it: four
// interleaved partial sums, (s0 + s1) + (s2 + s3).
template <typename F>
double ReferenceSum(const std::vector<double>& values, F f) {
  double partial[4] = {0.0, 0.0, 0.0, 0.0};
  const size_t whole = values.size() / 4 * 4;
  for (size_t i = 0; i < values.size(); ++i) partial[i < whole ? i % 4 : 0] += f(values[i]);
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

void ReferenceMoments(const std::vector<double>& values, double* mean, double* stddev) {
  *mean = 0.0;
  *stddev = 0.0;
  if (values.empty()) return;
  const double n = static_cast<double>(values.size());
  *mean = ReferenceSum(values, [](double x) { return x; }) / n;
  if (values.size() < 2) return;
  const double m = *mean;
  *stddev = std::sqrt(ReferenceSum(values, [m](double x) { return (x - m) * (x - m); }) / (n - 1));
}

// numpy's linear percentile on a sorted copy.
double ReferencePercentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double virtual_index = static_cast<double>(values.size() - 1) * (q / 100.0);
  if (virtual_index >= static_cast<double>(values.size() - 1)) return values.back();
  const size_t lower = static_cast<size_t>(std::floor(virtual_index));
  const double t = virtual_index - std::floor(virtual_index);
  const double a = values[lower];
  const double b = values[lower + 1];
  return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

// B of `samples` from a plain std::vector<double> of their values.
Baseline ReferenceBaseline(const std::vector<Sample>& samples) {
  std::vector<double> latencies;
  std::vector<double> payloads;
  for (const Sample& sample : samples) {
    latencies.push_back(sample.latency_ms);
    if (!std::isnan(sample.payload_kb)) payloads.push_back(sample.payload_kb);
  }
  Baseline b;
  b.valid = true;
  b.sample_count = static_cast<uint32_t>(samples.size());
  ReferenceMoments(latencies, &b.mean_latency, &b.stddev_latency);
  b.p50_latency = ReferencePercentile(latencies, 50);
  b.p95_latency = ReferencePercentile(latencies, 95);
  b.p99_latency = ReferencePercentile(latencies, 99);
  b.has_payload = !payloads.empty();
  ReferenceMoments(payloads, &b.mean_payload, &b.stddev_payload);
  return b;
}

void ExpectSameBaseline(const Baseline& actual, const Baseline& expected) {
  EXPECT_EQ(actual.sample_count, expected.sample_count);
  EXPECT_EQ(actual.has_payload, expected.has_payload);
  for (const auto field : {&Baseline::mean_latency, &Baseline::stddev_latency,
                           &Baseline::p50_latency, &Baseline::p95_latency, &Baseline::p99_latency,
                           &Baseline::mean_payload, &Baseline::stddev_payload}) {
    EXPECT_EQ(Bits(actual.*field), Bits(expected.*field));
  }
}

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ = state_ * 6364136223846793005u + 1442695040888963407u;
    uint64_t mixed = state_ ^ (state_ >> 29);
    mixed *= 0xbf58476d1ce4e5b9u;
    return mixed ^ (mixed >> 32);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1p-53; }
  double Normal(double mean, double stddev) {  // Box-Muller
    const double u = 1.0 - Uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * Uniform());
  }

 private:
  uint64_t state_;
};

enum class Values { kSeed, kDecimal, kRandom };

// What clients send: kSeed like the README's client (latency a full-precision double, payload
// whole bytes / 1024), kDecimal values printed with three decimals and parsed back, kRandom
// full-precision doubles for both. Every 7th sample has no payload.
std::vector<Sample> ClientSamples(Values values, size_t count, int64_t first_ms, uint64_t seed) {
  Random random(seed);
  std::vector<Sample> samples;
  for (size_t i = 0; i < count; ++i) {
    double latency_ms = std::max(1.0, random.Normal(150.0, 25.0));
    double payload_kb = std::max(0.0, random.Normal(2.45, 0.76));
    if (values == Values::kSeed) {
      payload_kb = std::floor(payload_kb * 1024.0) / 1024.0;
    } else if (values == Values::kDecimal) {
      latency_ms = std::round(latency_ms * 1000.0) / 1000.0;
      payload_kb = std::round(payload_kb * 1000.0) / 1000.0;
    }
    samples.push_back(At(first_ms + static_cast<int64_t>(i) * 100 + static_cast<int64_t>(i % 5),
                         latency_ms, i % 7 == 3 ? kNoPayload : payload_kb));
  }
  return samples;
}

// Doubles of every kind the encoding distinguishes, and timestamps anywhere in int64.
std::vector<Sample> ArbitrarySamples(size_t count, uint64_t seed) {
  Random random(seed);
  const double specials[] = {0.0,
                             -0.0,
                             std::numeric_limits<double>::denorm_min(),
                             std::numeric_limits<double>::min() / 3.0,  // subnormal
                             std::numeric_limits<double>::max(),
                             1e300,
                             -1e-300,
                             std::numeric_limits<double>::infinity(),
                             4294967.295,
                             18446744073709551616.0 / 1000.0,  // k / 1000 past uint64
                             0.1 + 0.2,
                             1.0 / 4096.0,
                             3.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0};
  const int64_t extremes[] = {std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max(), 0, -1, 1'700'000'000'000};
  auto value = [&](uint64_t kind) {
    switch (kind % 6) {
      case 0: {  // random bits (no NaN)
        const double x = std::bit_cast<double>(random.Next());
        return std::isnan(x) ? 1.5 : x;
      }
      case 1:
        return specials[random.Next() % std::size(specials)];
      case 2:
        return static_cast<double>(random.Next() % 10'000'000) / 1000.0;  // three decimals
      case 3:
        return static_cast<double>(random.Next() % 10'000'000) / 1024.0;
      case 4:
        return random.Uniform() * 300.0;  // full precision, in range
      default:
        return static_cast<double>(random.Next() >> 11);  // a large integer
    }
  };
  std::vector<Sample> samples;
  int64_t timestamp_ms = 0;
  for (size_t i = 0; i < count; ++i) {
    switch (random.Next() % 5) {
      case 0:
        timestamp_ms = extremes[random.Next() % std::size(extremes)];
        break;
      case 1:
        timestamp_ms = static_cast<int64_t>(random.Next());
        break;
      default:  // moves a little, either way (wrapping around at the extremes)
        timestamp_ms =
            static_cast<int64_t>(static_cast<uint64_t>(timestamp_ms) + random.Next() % 2001 - 500);
        break;
    }
    const uint64_t kind = random.Next();
    samples.push_back(At(timestamp_ms, value(kind), kind % 4 == 0 ? kNoPayload : value(kind >> 8)));
  }
  return samples;
}

TEST(BaselineWindowEncodingTest, ArbitraryDoublesAndTimestampsComeBackBitForBit) {
  for (const uint32_t capacity : {1u, 2u, 7u, 100u}) {
    const std::vector<Sample> samples = ArbitrarySamples(2000, capacity);
    BaselineWindow window(capacity);
    std::vector<Sample> appended;
    // The largest timestamp of what the window holds, looked for in its samples.
    auto largest = [&window] {
      int64_t newest = std::numeric_limits<int64_t>::min();
      for (const Sample& sample : window.Samples()) newest = std::max(newest, sample.timestamp_ms);
      return newest;
    };
    for (const Sample& sample : samples) {
      window.Append(sample);
      appended.push_back(sample);
      ASSERT_EQ(window.size(), std::min<size_t>(appended.size(), capacity));
      if (appended.size() % 37 == 0) ExpectHolds(window, appended);
      // Asked at uneven intervals, so that the largest leaves the window both between two asks
      // and right before one.
      if (appended.size() % 37 == 0 || appended.size() % 5 == 1) {
        ASSERT_EQ(window.NewestTimestamp(), largest()) << "after " << appended.size();
        // Age eviction, on copies: at the smallest timestamp it drops nothing, one past it drops
        // what holds it.
        const std::vector<Sample> held = window.Samples();
        int64_t smallest = std::numeric_limits<int64_t>::max();
        for (const Sample& kept : held) smallest = std::min(smallest, kept.timestamp_ms);
        for (const int64_t cutoff :
             {smallest,
              smallest == std::numeric_limits<int64_t>::max() ? smallest : smallest + 1}) {
          BaselineWindow evicted = window;
          evicted.EvictOlderThan(cutoff);
          ExpectContains(evicted, NotOlderThan(held, cutoff));
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
    ExpectHolds(window, appended);
    EXPECT_EQ(window.NewestTimestamp(), largest());
  }
}

TEST(BaselineWindowEncodingTest, FifoOverManyWrapsKeepsTheLastSamples) {
  for (const Values values : {Values::kSeed, Values::kDecimal, Values::kRandom}) {
    const std::vector<Sample> samples = ClientSamples(values, 25'000, 1'700'000'000'000, 3);
    BaselineWindow window(1000);
    std::vector<Sample> appended;
    for (const Sample& sample : samples) {
      window.Append(sample);
      appended.push_back(sample);
      if (appended.size() % 997 == 0) ExpectHolds(window, appended);
    }
    ExpectHolds(window, appended);
    EXPECT_EQ(window.NewestTimestamp(), samples.back().timestamp_ms);
    ExpectSameBaseline(window.Compute(1),
                       ReferenceBaseline(std::vector<Sample>(samples.end() - 1000, samples.end())));
  }
}

TEST(BaselineWindowEncodingTest, ComputeMatchesAPlainVectorOfTheSameValues) {
  for (const Values values : {Values::kSeed, Values::kDecimal, Values::kRandom}) {
    for (const size_t count : {1, 2, 3, 5, 100, 999, 1000, 1003}) {
      const std::vector<Sample> samples = ClientSamples(values, count, 5'000, count);
      BaselineWindow window(1000);
      for (const Sample& sample : samples) window.Append(sample);
      const std::vector<Sample> held(samples.end() - window.size(), samples.end());
      ExpectSameBaseline(window.Compute(1), ReferenceBaseline(held));
    }
  }
  const std::vector<Sample> arbitrary = ArbitrarySamples(500, 11);
  std::vector<Sample> finite;
  for (const Sample& sample : arbitrary) {
    if (std::isfinite(sample.latency_ms) && std::fabs(sample.latency_ms) < 1e150 &&
        !(std::fabs(sample.payload_kb) >= 1e150)) {
      finite.push_back(sample);
    }
  }
  BaselineWindow window(1000);
  for (const Sample& sample : finite) window.Append(sample);
  ExpectSameBaseline(window.Compute(1), ReferenceBaseline(finite));
}

TEST(BaselineWindowEncodingTest, NoPayloadMixedWithPayloads) {
  BaselineWindow window(50);
  std::vector<Sample> appended;
  Random random(5);
  for (int i = 0; i < 400; ++i) {
    // Runs of absent payloads between present ones of every form.
    const bool absent = (i / 3) % 2 == 0;
    const double payload = i % 3 == 0   ? 0.1 * i
                           : i % 3 == 1 ? i / 1024.0
                                        : static_cast<double>(i) / 1000.0;
    appended.push_back(At(i, random.Uniform() * 200.0, absent ? kNoPayload : payload));
    window.Append(appended.back());
  }
  ExpectHolds(window, appended);
  ExpectSameBaseline(window.Compute(1),
                     ReferenceBaseline(std::vector<Sample>(appended.end() - 50, appended.end())));
  BaselineWindow none(10);
  for (int i = 0; i < 30; ++i) none.Append(At(i, i));
  EXPECT_FALSE(none.Compute(1).has_payload);
}

TEST(BaselineWindowEncodingTest, EvictionInTheMiddleWithTimestampsInOrderAndOutOfOrder) {
  for (const bool in_order : {true, false}) {
    std::vector<Sample> samples = ClientSamples(Values::kSeed, 1700, 1'000'000, 9);
    if (!in_order) {
      Random random(4);
      for (Sample& sample : samples) {
        sample.timestamp_ms += static_cast<int64_t>(random.Next() % 100'000);
      }
    }
    BaselineWindow window(1000);
    for (const Sample& sample : samples) window.Append(sample);
    std::vector<Sample> expected(samples.end() - 1000, samples.end());
    ExpectContains(window, expected);
    const int64_t cutoff_ms = expected[600].timestamp_ms;
    window.EvictOlderThan(cutoff_ms);
    expected = NotOlderThan(expected, cutoff_ms);
    ASSERT_LT(expected.size(), 1000u);
    ASSERT_GT(expected.size(), 300u);
    ExpectContains(window, expected);
    ExpectSameBaseline(window.Compute(1), ReferenceBaseline(expected));
    // The window fills up again from there.
    for (int i = 0; i < 1500; ++i) {
      expected.push_back(At(samples.back().timestamp_ms + i, 100.0 + i * 0.001, i / 1024.0));
      window.Append(expected.back());
    }
    ExpectHolds(window, expected);
    EXPECT_EQ(window.NewestTimestamp(), expected.back().timestamp_ms);
    // Evicting nothing changes nothing; evicting everything empties the window.
    window.EvictOlderThan(std::numeric_limits<int64_t>::min());
    ExpectHolds(window, expected);
    window.EvictOlderThan(std::numeric_limits<int64_t>::max());
    EXPECT_EQ(window.size(), 0u);
    EXPECT_EQ(window.allocated_bytes(), 0u);
  }
}

TEST(BaselineWindowEncodingTest, ExtremeTimestampsOutOfOrder) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const std::vector<Sample> samples = {At(kMax, 1.0),      At(kMin, 2.0, 0.5), At(0, 3.0),
                                       At(kMax, 4.0),      At(kMax - 1, 5.0),  At(kMin + 1, 6.0),
                                       At(kMin, 7.0, 1.0), At(-1, 8.0)};
  BaselineWindow window(10);
  for (const Sample& sample : samples) window.Append(sample);
  ExpectHolds(window, samples);
  EXPECT_EQ(window.NewestTimestamp(), kMax);
  window.EvictOlderThan(0);
  ExpectContains(window, NotOlderThan(samples, 0));
  EXPECT_EQ(window.NewestTimestamp(), kMax);
  window.EvictOlderThan(kMax);
  ExpectContains(window, {samples[0], samples[3]});
}

// The encoded form of a window: what the ring holds and what a snapshot stores.
std::string SavedWindow(const BaselineWindow& window) {
  std::string bytes;
  window.Save(&bytes);
  return bytes;
}

TEST(BaselineWindowEncodingTest, SaveAndLoadRoundTrip) {
  const std::vector<Sample> samples = ArbitrarySamples(1500, 21);
  for (const size_t count : {0, 1, 2, 500, 1500}) {
    BaselineWindow original(1000);
    std::vector<Sample> appended(samples.begin(), samples.begin() + count);
    for (const Sample& sample : appended) original.Append(sample);
    const std::string bytes = SavedWindow(original);

    BaselineWindow restored(1000);
    restored.Append(At(1, 2.0));  // replaced
    ASSERT_TRUE(restored.Load(bytes));
    ExpectContains(restored, original.Samples());
    EXPECT_EQ(SavedWindow(restored), bytes);
    EXPECT_EQ(restored.NewestTimestamp(), original.NewestTimestamp());
    // Both go on the same way.
    for (int i = 0; i < 700; ++i) {
      const Sample next = At(2'000'000 + i, i * 0.25, i % 2 ? kNoPayload : i / 1000.0);
      original.Append(next);
      restored.Append(next);
      appended.push_back(next);
    }
    ExpectHolds(restored, appended);
    EXPECT_EQ(SavedWindow(restored), SavedWindow(original));

    // A smaller window keeps the newest samples.
    BaselineWindow smaller(7);
    ASSERT_TRUE(smaller.Load(bytes));
    ExpectHolds(smaller, std::vector<Sample>(appended.begin(), appended.begin() + count));
  }
}

TEST(BaselineWindowEncodingTest, LoadRefusesWhatSaveDidNotWrite) {
  const std::vector<Sample> samples = ClientSamples(Values::kRandom, 300, 77, 2);
  BaselineWindow original(1000);
  for (const Sample& sample : samples) original.Append(sample);
  const std::string bytes = SavedWindow(original);

  BaselineWindow target(1000);
  for (const Sample& sample : ClientSamples(Values::kDecimal, 20, 5, 5)) target.Append(sample);
  const std::string before = SavedWindow(target);
  std::vector<std::string> corrupt = {bytes + "!", std::string(3, '\0'), std::string(5, '\0')};
  for (size_t size = 0; size < bytes.size(); ++size) corrupt.push_back(bytes.substr(0, size));
  std::string bad_flag = bytes;
  bad_flag[4 + 32] = 2;
  corrupt.push_back(bad_flag);
  std::string huge_count = bytes;
  huge_count[3] = 0x7f;
  corrupt.push_back(huge_count);
  std::string long_varint = bytes.substr(0, 4 + 33);
  long_varint[0] = 2;
  long_varint[1] = long_varint[2] = long_varint[3] = 0;
  long_varint += std::string(1, '\x03') + std::string(12, '\xff');  // a timestamp varint > 10 bytes
  corrupt.push_back(long_varint);
  for (const std::string& data : corrupt) {
    // A heap block of exactly this size, so that the sanitizers see any read past it.
    const std::vector<char> exact(data.begin(), data.end());
    EXPECT_FALSE(target.Load(std::string_view(exact.data(), exact.size()))) << data.size();
    EXPECT_EQ(SavedWindow(target), before);
  }
  // An empty window is a valid one.
  EXPECT_TRUE(target.Load(SavedWindow(BaselineWindow(5))));
  EXPECT_EQ(target.size(), 0u);
}

TEST(BaselineWindowEncodingTest, CostsWhatItsValuesNeed) {
  // Per sample, in a full 1000-sample window (control byte; the timestamp, here 0-1 bytes; a
  // full-precision latency 7 bytes, three decimals 3; a payload of whole bytes 2, three decimals
  // 2, full precision 7), plus the ring's slack.
  const std::pair<Values, size_t> budgets[] = {
      {Values::kSeed, 12'000}, {Values::kDecimal, 8'000}, {Values::kRandom, 17'500}};
  for (const auto& [values, budget] : budgets) {
    const std::vector<Sample> samples = ClientSamples(values, 5000, 1'700'000'000'000, 8);
    BaselineWindow window(1000);
    EXPECT_EQ(window.allocated_bytes(), 0u);
    for (size_t i = 0; i < 10; ++i) window.Append(samples[i]);
    EXPECT_LE(window.allocated_bytes(), 300u);  // a young window costs what it holds
    for (size_t i = 10; i < samples.size(); ++i) window.Append(samples[i]);
    EXPECT_LE(window.allocated_bytes(), budget);
    EXPECT_GE(window.allocated_bytes(), budget / 3);
    // Once most of it is evicted, most of the memory goes back.
    window.EvictOlderThan(samples[samples.size() - 100].timestamp_ms);
    EXPECT_EQ(window.size(), 100u);
    EXPECT_LE(window.allocated_bytes(), budget / 5);
    window.Clear();
    EXPECT_EQ(window.allocated_bytes(), 0u);
  }
}

// The selection against a full sort with the same interpolation, on data with many ties.
TEST(LinearPercentileTest, SelectionMatchesASortedCopy) {
  uint64_t state = 7;
  for (int round = 0; round < 200; ++round) {
    std::vector<double> values(1 + round * 7);
    for (double& value : values) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      value = static_cast<double>((state >> 33) % (round % 3 == 0 ? 5 : 100000)) / 8.0;
    }
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    for (const double q : {0.0, 50.0, 95.0, 99.0, 100.0}) {
      const double virtual_index = static_cast<double>(sorted.size() - 1) * (q / 100.0);
      const size_t lower = static_cast<size_t>(std::floor(virtual_index));
      const double t = virtual_index - std::floor(virtual_index);
      const double a = sorted[lower];
      const double b = sorted[std::min(lower + 1, sorted.size() - 1)];
      const double expected = t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
      EXPECT_EQ(Bits(Percentile(values, q)), Bits(expected)) << round << " " << q;
    }
  }
}

}  // namespace
}  // namespace driftwatch
