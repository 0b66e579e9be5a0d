#include "tests/support/server_process.h"

#include <signal.h>

#include <cstdlib>
#include <thread>

namespace driftwatch::testing {
namespace {

constexpr char kBannerPrefix[] = "API listening on http://";

// The port in "... API listening on http://HOST:PORT\n", or 0 while that line is incomplete.
uint16_t PortFromBanner(const std::string& out) {
  const size_t at = out.find(kBannerPrefix);
  if (at == std::string::npos) return 0;
  const size_t end = out.find('\n', at);
  if (end == std::string::npos) return 0;
  const size_t colon = out.rfind(':', end);
  if (colon == std::string::npos || colon < at + sizeof kBannerPrefix - 1) return 0;
  return static_cast<uint16_t>(std::strtoul(out.c_str() + colon + 1, nullptr, 10));
}

}  // namespace

std::string DriftwatchBinary() { return DRIFTWATCH_BINARY; }

ServerProcess::ServerProcess(std::string output_prefix, std::string binary)
    : binary_(std::move(binary)), child_(std::move(output_prefix)) {}

bool ServerProcess::Start(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  port_ = 0;
  if (!child_.Spawn(argv)) {
    *error = "cannot spawn " + binary_;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kProcessDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    port_ = PortFromBanner(Stdout());
    if (port_ != 0) return true;
    if (child_.TryReap()) {
      *error = binary_ + " exited during start-up:\n" + Stdout() + Stderr();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  *error = "no banner before the deadline:\n" + Stdout() + Stderr();
  return false;
}

std::optional<int> ServerProcess::Stop() {
  child_.Signal(SIGTERM);
  return child_.WaitForExit();
}

RunResult RunServiceToExit(const std::vector<std::string>& args, const std::string& output_prefix) {
  ServerProcess process(output_prefix);
  RunResult result;
  std::string ignored;
  // Start() fails when the process exits without a banner, which is what these runs expect; a
  // process that does print a banner is stopped like any server.
  if (process.Start(args, &ignored)) process.Signal(SIGTERM);
  if (std::optional<int> code = process.WaitForExit()) result.exit_code = *code;
  result.out = process.Stdout();
  result.err = process.Stderr();
  return result;
}

}  // namespace driftwatch::testing
