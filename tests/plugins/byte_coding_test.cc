// The SDK's binary coding (driftwatch/byte_coding.hpp), as a plugin author on C++17 uses it: exact
// little-endian bytes, varint and zigzag round trips at their edges, and readers that fail, never
// read past the end, on short or malformed input. Built with CXX_STANDARD 17.
#include <gtest/gtest.h>
#include <driftwatch/byte_coding.hpp>
#include <driftwatch/plugin.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#if __cplusplus != 201703L
#error "this test must be compiled as C++17"
#endif

namespace {

namespace coding = driftwatch::coding;

TEST(ByteCoding, FixedWidthIsLittleEndianWhateverTheMachine) {
  std::string out;
  coding::ByteWriter writer(&out);
  writer.U32(0x01020304u);
  writer.I64(-2);
  EXPECT_EQ(out, std::string("\x04\x03\x02\x01\xfe\xff\xff\xff\xff\xff\xff\xff", 12));
  coding::ByteReader reader(out);
  EXPECT_EQ(reader.U32(), 0x01020304u);
  EXPECT_EQ(reader.I64(), -2);
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_FALSE(reader.failed());
}

TEST(ByteCoding, VarintsRoundTripAtEveryLengthAndRefuseWhatIsNotOne) {
  for (const uint64_t value :
       {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{16383}, uint64_t{16384},
        uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()}) {
    std::string out;
    coding::ByteWriter(&out).Varint(value);
    EXPECT_EQ(out.size(), coding::VarintLength(value)) << value;
    coding::ByteReader reader(out);
    EXPECT_EQ(reader.Varint(), value);
    EXPECT_TRUE(reader.AtEnd() && !reader.failed());
    // Every shorter prefix is a failure, not a read past the end.
    for (size_t cut = 0; cut < out.size(); ++cut) {
      coding::ByteReader truncated(std::string_view(out).substr(0, cut));
      EXPECT_EQ(truncated.Varint(), 0u);
      EXPECT_TRUE(truncated.failed()) << value << " cut at " << cut;
    }
  }
  // Ten bytes whose last holds bits beyond the 64th, and eleven bytes: not varints of 64 bits.
  // (A reader views its input: the bytes must outlive it.)
  const std::string too_large_bytes("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
  coding::ByteReader too_large(too_large_bytes);
  too_large.Varint();
  EXPECT_TRUE(too_large.failed());
  const std::string too_long_bytes(11, '\x80');
  coding::ByteReader too_long(too_long_bytes);
  too_long.Varint();
  EXPECT_TRUE(too_long.failed());
}

TEST(ByteCoding, ZigZagKeepsSmallDifferencesSmallEitherSide) {
  EXPECT_EQ(coding::ZigZag(0), 0u);
  EXPECT_EQ(coding::ZigZag(static_cast<uint64_t>(-1)), 1u);
  EXPECT_EQ(coding::ZigZag(1), 2u);
  EXPECT_EQ(coding::ZigZag(static_cast<uint64_t>(-2)), 3u);
  for (const int64_t value : {std::numeric_limits<int64_t>::min(), int64_t{-1000}, int64_t{0},
                              std::numeric_limits<int64_t>::max()}) {
    const auto bits = static_cast<uint64_t>(value);
    EXPECT_EQ(coding::UnZigZag(coding::ZigZag(bits)), bits);
  }
}

TEST(ByteCoding, DoublesComeBackBitForBitAndTextsAreBounded) {
  std::string out;
  coding::ByteWriter writer(&out);
  const double signalling = coding::DoubleOf(0x7ff0000000000001u);
  writer.F64(-0.0);
  writer.F64(signalling);
  writer.Text("abc");
  coding::ByteReader reader(out);
  EXPECT_EQ(coding::BitsOf(reader.F64()), coding::BitsOf(-0.0));
  EXPECT_EQ(coding::BitsOf(reader.F64()), 0x7ff0000000000001u);
  EXPECT_EQ(reader.Text(), "abc");
  EXPECT_TRUE(reader.AtEnd() && !reader.failed());

  // A length beyond the input, and a count of items the input cannot hold, fail.
  const std::string lying_bytes(
      "\xff\xff\xff\x7f"
      "abc",
      7);
  coding::ByteReader lying(lying_bytes);
  EXPECT_EQ(lying.Text(), "");
  EXPECT_TRUE(lying.failed());
  const std::string counted_bytes(
      "\x10\x00\x00\x00"
      "12345678",
      12);
  coding::ByteReader counted(counted_bytes);
  EXPECT_EQ(counted.Count(8), 0u);
  EXPECT_TRUE(counted.failed());
}

// A detector's saved state (plugin.hpp's StateWriter and StateReader) is little-endian too, so it
// restores on any machine.
TEST(ByteCoding, DetectorStateIsLittleEndianAndComesBackExactly) {
  driftwatch::sdk::StateWriter writer;
  writer.Put(uint32_t{0x01020304});
  writer.Put(int16_t{-2});
  writer.Put(true);
  writer.Put(-1.5);
  writer.Put(0.25f);
  const std::vector<uint8_t>& bytes = writer.bytes();
  ASSERT_EQ(bytes.size(), 4u + 2u + 1u + 8u + 4u);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 7),
            (std::vector<uint8_t>{0x04, 0x03, 0x02, 0x01, 0xfe, 0xff, 0x01}));
  EXPECT_EQ(coding::GetFixed(bytes.data() + 7, 8), coding::BitsOf(-1.5));
  driftwatch::sdk::StateReader reader(bytes.data(), bytes.size());
  EXPECT_EQ(reader.Get<uint32_t>(), 0x01020304u);
  EXPECT_EQ(reader.Get<int16_t>(), -2);
  EXPECT_TRUE(reader.Get<bool>());
  EXPECT_EQ(reader.Get<double>(), -1.5);
  EXPECT_EQ(reader.Get<float>(), 0.25f);
  reader.ExpectEnd();
}

}  // namespace
