#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace driftwatch::testing {

namespace {
constexpr auto kPollInterval = std::chrono::milliseconds(10);
}  // namespace

ChildProcess::ChildProcess(std::string output_prefix)
    : stdout_path_(output_prefix + ".out"), stderr_path_(output_prefix + ".err") {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ChildProcess::Spawn(const std::vector<std::string>& argv) {
  std::vector<std::string> strings = argv;
  std::vector<char*> pointers;
  for (std::string& arg : strings) pointers.push_back(arg.data());
  pointers.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int failed = posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (failed != 0) return false;
  pid_ = pid;
  exit_code_.reset();
  return true;
}

bool ChildProcess::Signal(int signal_number) {
  return pid_ > 0 && ::kill(pid_, signal_number) == 0;
}

std::optional<int> ChildProcess::TryReap() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

std::optional<int> ChildProcess::WaitForExit(std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (std::optional<int> code = TryReap()) return code;
    if (pid_ <= 0 || std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ChildProcess::Stdout() const { return ReadFile(stdout_path_); }
std::string ChildProcess::Stderr() const { return ReadFile(stderr_path_); }

RunResult RunToExit(const std::vector<std::string>& argv, const std::string& output_prefix,
                    std::chrono::seconds deadline) {
  ChildProcess child(output_prefix);
  RunResult result;
  if (child.Spawn(argv)) {
    if (std::optional<int> code = child.WaitForExit(deadline)) result.exit_code = *code;
  }
  result.out = child.Stdout();
  result.err = child.Stderr();
  return result;  // a child still running is killed by ~ChildProcess
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

}  // namespace driftwatch::testing
