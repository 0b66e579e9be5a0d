// libFuzzer target: the bytes a connection sends, as the HTTP layer frames them into requests
// (api/http_framing) and decodes the service ids in their paths (api/router). Checks that a frame
// never claims more bytes than arrived, and that what decodes to a valid service id is one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/http_framing.h"
#include "api/router.h"
#include "api/sample_parser.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using driftwatch::api::FrameStatus;

  // Small limits, so the fuzzer reaches them.
  driftwatch::api::FrameLimits limits;
  limits.max_header_bytes = 512;
  limits.max_target_bytes = 128;
  limits.max_body_bytes = 1024;
  const driftwatch::api::Frame frame = driftwatch::api::FindRequest(bytes, limits);
  Require(frame.header_length <= size);
  if (frame.status == FrameStatus::kComplete) {
    Require(frame.header_length > 0 && frame.header_length <= frame.length);
    Require(frame.length <= size);
    Require(frame.header_length <= limits.max_header_bytes);
    Require(frame.path.offset + frame.path.length <= frame.header_length);
    Require(frame.method.length > 0);
    // Framing the request alone gives the same answer.
    const driftwatch::api::Frame again =
        driftwatch::api::FindRequest(bytes.substr(0, frame.length), limits);
    Require(again.status == FrameStatus::kComplete && again.length == frame.length);
    std::string scratch;
    Require(driftwatch::api::RequestBody(bytes, frame, &scratch).size() <= limits.max_body_bytes);
  }
  if (frame.status != FrameStatus::kComplete && frame.status != FrameStatus::kIncomplete) {
    Require(!frame.error.empty());
  }
  (void)driftwatch::api::KeepsAlive(frame);

  // The same bytes arriving in pieces (cut where the first byte says) are read the same: the
  // progress kept between the pieces never changes the outcome.
  if (size > 1) {
    const size_t step = 1 + data[0] % 16;
    driftwatch::api::FrameProgress progress;
    driftwatch::api::Frame piecewise;
    for (size_t end = step;; end += step) {
      piecewise =
          driftwatch::api::FindRequest(bytes.substr(0, std::min(end, size)), limits, &progress);
      if (piecewise.status != FrameStatus::kIncomplete || end >= size) break;
    }
    // A request is taken the same way however it arrives; what is refused stays refused (the
    // reason may differ with where the bytes were cut: the first fault seen is the one named).
    const bool whole_taken = frame.status == FrameStatus::kComplete;
    const bool piecewise_taken = piecewise.status == FrameStatus::kComplete;
    Require(whole_taken == piecewise_taken);
    if (whole_taken) Require(piecewise.length == frame.length);
    if (frame.status != FrameStatus::kIncomplete && !whole_taken) {
      Require(piecewise.status != FrameStatus::kIncomplete);
    }
  }

  std::string decoded;
  if (driftwatch::api::PercentDecode(bytes, &decoded)) {
    Require(decoded.size() <= size);
    if (driftwatch::api::IsValidServiceId(decoded)) {
      Require(!decoded.empty() && decoded.size() <= driftwatch::api::kMaxServiceIdLength);
    }
  }
  return 0;
}
