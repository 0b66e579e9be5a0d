#include "core/baseline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
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
  for (uint32_t i = 0; i < window.size(); ++i) values.push_back(window.at(i).latency_ms);
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

// ---- the compact encoding: the window's contents and statistics never change -----------------

uint64_t Bits(double value) { return std::bit_cast<uint64_t>(value); }

void ExpectSameSample(const Sample& actual, const Sample& expected) {
  EXPECT_EQ(actual.timestamp_ms, expected.timestamp_ms);
  EXPECT_EQ(Bits(actual.latency_ms), Bits(expected.latency_ms));
  EXPECT_EQ(Bits(actual.payload_kb), Bits(expected.payload_kb));
}

// The window holds exactly the last window.size() of `appended`, bit for bit.
void ExpectHolds(const BaselineWindow& window, const std::vector<Sample>& appended) {
  ASSERT_LE(window.size(), appended.size());
  const size_t first = appended.size() - window.size();
  for (uint32_t i = 0; i < window.size(); ++i) ExpectSameSample(window.at(i), appended[first + i]);
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

// Values with three decimals, as a client sending "%.3f" produces them; every 7th has no payload.
std::vector<Sample> ThreeDecimalSamples(size_t count, int64_t first_ms) {
  std::vector<Sample> samples;
  uint64_t state = 12345;
  auto next = [&state](uint32_t modulus) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return static_cast<double>((state >> 33) % modulus);
  };
  for (size_t i = 0; i < count; ++i) {
    const double latency_ms = (50000.0 + next(200000)) / 1000.0;  // 50.000 .. 249.999
    const double payload_kb = i % 7 == 0 ? kNoPayload : next(5000) / 1000.0;
    samples.push_back(At(first_ms + static_cast<int64_t>(i) * 100, latency_ms, payload_kb));
  }
  return samples;
}

// The same samples held as full Samples: a first sample that cannot be encoded switches the window
// to them, and eviction then removes it (eviction never switches back).
BaselineWindow FullLayoutWindow(uint32_t capacity, const std::vector<Sample>& samples) {
  BaselineWindow window(capacity);
  window.Append(At(samples.front().timestamp_ms - 1, 0.1 + 0.2));
  for (const Sample& sample : samples) window.Append(sample);
  window.EvictOlderThan(samples.front().timestamp_ms);
  return window;
}

TEST(BaselineWindowCompactTest, ThreeDecimalValuesStayCompactWithIdenticalResults) {
  const std::vector<Sample> samples = ThreeDecimalSamples(999, 1'700'000'000'000);
  BaselineWindow compact(1000);
  for (const Sample& sample : samples) compact.Append(sample);
  EXPECT_TRUE(compact.compact());
  ExpectHolds(compact, samples);

  const BaselineWindow full = FullLayoutWindow(1000, samples);
  ASSERT_FALSE(full.compact());
  ASSERT_EQ(full.size(), samples.size());
  ExpectHolds(full, samples);
  ExpectSameBaseline(compact.Compute(1), full.Compute(1));
  EXPECT_EQ(compact.NewestTimestamp(), full.NewestTimestamp());
}

TEST(BaselineWindowCompactTest, AValueThatDoesNotRoundTripSwitchesToTheFullLayout) {
  const double kOutOfReach = 4294967.295;  // its thousandths are the no-payload marker
  for (const Sample& odd :
       {At(5, 0.1 + 0.2), At(5, 1e10), At(5, 150.1234), At(5, -0.0), At(5, 1.0, -0.0),
        At(5, 1.0, 2.0000001), At(5, 1.0, kOutOfReach), At(5, 1.0, -std::nan(""))}) {
    std::vector<Sample> samples = ThreeDecimalSamples(300, 1'000);
    BaselineWindow window(200);
    for (size_t i = 0; i < 150; ++i) window.Append(samples[i]);
    EXPECT_TRUE(window.compact());
    const Baseline before = window.Compute(1);
    samples.insert(samples.begin() + 150, odd);
    window.Append(odd);
    EXPECT_FALSE(window.compact()) << odd.latency_ms << " " << odd.payload_kb;
    samples.resize(151);
    ExpectHolds(window, samples);
    // The samples that were there before are unchanged by the switch.
    window.EvictOlderThan(6);
    EXPECT_EQ(window.size(), 150u);
    ExpectSameBaseline(window.Compute(1), before);
  }
}

TEST(BaselineWindowCompactTest, ReturnsToCompactOnceTheOddValueHasLeft) {
  const std::vector<Sample> samples = ThreeDecimalSamples(400, 1'000);
  BaselineWindow window(100);
  window.Append(At(0, 0.1 + 0.2));
  EXPECT_FALSE(window.compact());
  for (const Sample& sample : samples) window.Append(sample);
  EXPECT_TRUE(window.compact());
  ExpectHolds(window, samples);
  const std::vector<Sample> last(samples.end() - 100, samples.end());
  const BaselineWindow full = FullLayoutWindow(1000, last);
  ASSERT_FALSE(full.compact());
  ExpectSameBaseline(window.Compute(1), full.Compute(1));
}

TEST(BaselineWindowCompactTest, TimestampsMoreThan24DaysApartUseTheFullLayout) {
  constexpr int64_t kDayMs = 24 * 3600 * 1000;
  std::vector<Sample> samples = {At(1'700'000'000'000, 1.5, 2.5),
                                 At(1'700'000'000'000 + 30 * kDayMs, 2.5, 3.5),
                                 At(1'700'000'000'000 - 30 * kDayMs, 3.5)};
  BaselineWindow window(10);
  window.Append(samples[0]);
  window.Append(samples[1]);
  EXPECT_FALSE(window.compact());
  window.Append(samples[2]);
  ExpectHolds(window, samples);
  EXPECT_EQ(window.NewestTimestamp(), samples[1].timestamp_ms);
  window.EvictOlderThan(samples[1].timestamp_ms);
  ExpectHolds(window, {samples[1]});
}

TEST(BaselineWindowCompactTest, ExtremeTimestampsAreKeptExactly) {
  const std::vector<Sample> samples = {At(std::numeric_limits<int64_t>::max(), 1.0),
                                       At(std::numeric_limits<int64_t>::min(), 2.0), At(0, 3.0)};
  BaselineWindow window(10);
  for (const Sample& sample : samples) window.Append(sample);
  ExpectHolds(window, samples);
  EXPECT_EQ(window.NewestTimestamp(), std::numeric_limits<int64_t>::max());
}

TEST(BaselineWindowCompactTest, AWindowThatMovesOnForMonthsStaysCompact) {
  constexpr int64_t kHourMs = 3600 * 1000;
  BaselineWindow window(100);  // about four days of hourly samples
  std::vector<Sample> samples;
  for (int64_t hour = 0; hour < 24 * 90; ++hour) {
    samples.push_back(At(-5 * 24 * kHourMs + hour * kHourMs, static_cast<double>(hour % 97)));
    window.Append(samples.back());
    ASSERT_TRUE(window.compact()) << hour;
  }
  ExpectHolds(window, samples);
  EXPECT_EQ(window.NewestTimestamp(), samples.back().timestamp_ms);
}

TEST(BaselineWindowCompactTest, TheRingGrowsAsItFills) {
  BaselineWindow window(1000);
  EXPECT_EQ(window.allocated(), 0u);
  const std::vector<Sample> samples = ThreeDecimalSamples(1500, 0);
  for (size_t i = 0; i < 10; ++i) window.Append(samples[i]);
  EXPECT_LE(window.allocated(), 16u);
  for (size_t i = 10; i < 300; ++i) window.Append(samples[i]);
  EXPECT_LT(window.allocated(), 1000u);
  EXPECT_GE(window.allocated(), 300u);
  window.EvictOlderThan(samples[100].timestamp_ms);
  std::vector<Sample> kept(samples.begin() + 100, samples.begin() + 300);
  for (size_t i = 300; i < 1500; ++i) {
    window.Append(samples[i]);
    kept.push_back(samples[i]);
  }
  EXPECT_EQ(window.allocated(), 1000u);
  EXPECT_EQ(window.size(), 1000u);
  ExpectHolds(window, kept);
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
