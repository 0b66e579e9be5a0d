#include "tests/api/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace driftwatch::testing {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);
constexpr char kBannerPrefix[] = "API listening on http://";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

// The port in "... API listening on http://HOST:PORT\n", or 0 while the line is not complete.
uint16_t PortFromBanner(const std::string& out) {
  const size_t at = out.find(kBannerPrefix);
  if (at == std::string::npos) return 0;
  const size_t end = out.find('\n', at);
  if (end == std::string::npos) return 0;
  const size_t colon = out.rfind(':', end);
  if (colon == std::string::npos || colon < at) return 0;
  return static_cast<uint16_t>(std::atoi(out.c_str() + colon + 1));
}

}  // namespace

ServerProcess::ServerProcess(std::string output_prefix)
    : stdout_path_(output_prefix + ".out"), stderr_path_(output_prefix + ".err") {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ServerProcess::Spawn(const std::vector<std::string>& args) {
  std::vector<std::string> argv_strings = {DRIFTWATCH_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int spawned =
      posix_spawn(&pid_, DRIFTWATCH_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) pid_ = -1;
  return spawned == 0;
}

bool ServerProcess::Start(const std::vector<std::string>& args, std::string* error) {
  if (!Spawn(args)) {
    *error = "cannot spawn " + std::string(DRIFTWATCH_BINARY);
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kProcessDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    port_ = PortFromBanner(Stdout());
    if (port_ != 0) return true;
    if (TryReap()) {
      *error = "driftwatch exited during start-up:\n" + Stdout() + Stderr();
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  *error = "no banner before the deadline:\n" + Stdout() + Stderr();
  return false;
}

bool ServerProcess::Signal(int signal_number) {
  return pid_ > 0 && ::kill(pid_, signal_number) == 0;
}

std::optional<int> ServerProcess::TryReap() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

std::optional<int> ServerProcess::WaitForExit(std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (std::optional<int> code = TryReap()) return code;
    if (pid_ <= 0 || std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ServerProcess::Stdout() const { return ReadFile(stdout_path_); }
std::string ServerProcess::Stderr() const { return ReadFile(stderr_path_); }

RunResult RunToExit(const std::vector<std::string>& args, const std::string& output_prefix) {
  ServerProcess process(output_prefix);
  RunResult result;
  std::string ignored;
  // Start() fails when the process exits without a banner, which is what we expect here; a
  // process that does print a banner is stopped like any server.
  if (process.Start(args, &ignored)) process.Signal(SIGTERM);
  if (std::optional<int> code = process.WaitForExit()) result.exit_code = *code;
  result.out = process.Stdout();
  result.err = process.Stderr();
  return result;
}

}  // namespace driftwatch::testing
