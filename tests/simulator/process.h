// Runs the real binaries for the command-line and acceptance tests: a child process whose
// stdout and stderr go to files, so a chatty child never blocks on a full pipe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace driftwatch::sim::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Starts `arguments` (arguments[0] is the program's path); returns its pid, or -1.
inline pid_t Spawn(const std::vector<std::string>& arguments, const std::string& stdout_path,
                   const std::string& stderr_path) {
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int failed = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return failed == 0 ? pid : -1;
}

// The exit code of `pid`, waiting at most `limit`; -1 (after killing it) when it did not exit
// in time, -2 when it died of a signal.
inline int WaitForExit(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

struct Finished {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs to completion (or `limit`), in `dir` for the output files.
inline Finished RunProcess(const std::vector<std::string>& arguments, const std::string& dir,
                           std::chrono::seconds limit = std::chrono::seconds(300)) {
  const std::string out_path = dir + "/run.out";
  const std::string err_path = dir + "/run.err";
  Finished finished;
  const pid_t pid = Spawn(arguments, out_path, err_path);
  if (pid < 0) return finished;
  finished.exit_code = WaitForExit(pid, limit);
  finished.out = ReadFile(out_path);
  finished.err = ReadFile(err_path);
  return finished;
}

}  // namespace driftwatch::sim::testing
