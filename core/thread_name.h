// Names the service's own threads, so `top -H`, `ps -L`, gdb and perf tell them apart.
#pragma once

#include <pthread.h>

#include <string>

namespace driftwatch {

// Linux keeps the first 15 characters of a thread's name.
inline void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace driftwatch
