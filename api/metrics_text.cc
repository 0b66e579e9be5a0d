#include "api/metrics_text.h"

#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/series_key.h"

namespace driftwatch::api {
namespace {

constexpr double kMsPerSecond = 1000.0;
constexpr std::array<ServiceState, 3> kStates = {
    ServiceState::kInsufficientData, ServiceState::kStable, ServiceState::kDriftDetected};

void AppendNumber(std::string* out, double value) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  std::array<char, 32> buffer{};
  // Shortest text that reads back as the same double: exact, and cheap at 100,000 services.
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out->append(buffer.data(), result.ptr);
}

void AppendNumber(std::string* out, uint64_t value) {
  std::array<char, 24> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out->append(buffer.data(), result.ptr);
}

void Header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out->append(name).append(" ").append(type).append("\n");
}

template <typename Number>
void Sample(std::string* out, std::string_view name, Number value) {
  out->append(name).append(" ");
  AppendNumber(out, value);
  out->push_back('\n');
}

// name{label="value"} number
template <typename Number>
void Sample(std::string* out, std::string_view name, std::string_view label, std::string_view value,
            Number number) {
  out->append(name).append("{").append(label).append("=\"");
  AppendLabelValue(out, value);
  out->append("\"} ");
  AppendNumber(out, number);
  out->push_back('\n');
}

// name{<series labels>,label="value"} number; the series labels are SeriesLabels'.
template <typename Number>
void ServiceSample(std::string* out, std::string_view name, std::string_view series_labels,
                   std::string_view label, std::string_view value, Number number) {
  out->append(name).append("{").append(series_labels).append(",");
  out->append(label).append("=\"").append(value).append("\"} ");
  AppendNumber(out, number);
  out->push_back('\n');
}

template <typename Number>
void ServiceSample(std::string* out, std::string_view name, std::string_view series_labels,
                   Number number) {
  out->append(name).append("{").append(series_labels).append("} ");
  AppendNumber(out, number);
  out->push_back('\n');
}

// service_id="<id>", and ,endpoint="<endpoint>" for an endpoint series (docs/behaviour.md,
// "Endpoint series"); escaped.
std::string SeriesLabels(const std::string& key) {
  const SeriesName name = SplitSeriesKey(key);
  std::string labels = "service_id=\"";
  AppendLabelValue(&labels, name.service_id);
  labels.push_back('"');
  if (!name.endpoint.empty()) {
    labels.append(",endpoint=\"");
    AppendLabelValue(&labels, name.endpoint);
    labels.push_back('"');
  }
  return labels;
}

// The usual process_* metrics, as other Prometheus clients on Linux expose them.
void AppendProcessMetrics(std::string* out) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces), from field 3 (state) on.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> field;
    std::string word;
    while (fields >> word) field.push_back(word);
    // stat(5): utime 14, stime 15, starttime 22, vsize 23, rss 24; field[0] is field 3.
    constexpr size_t kUtime = 11;
    constexpr size_t kStime = 12;
    constexpr size_t kStartTime = 19;
    constexpr size_t kVsize = 20;
    constexpr size_t kRss = 21;
    if (field.size() > kRss) {
      const double cpu = (std::stod(field[kUtime]) + std::stod(field[kStime])) / ticks;
      Header(out, "process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.");
      Sample(out, "process_cpu_seconds_total", cpu);
      Header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
      Sample(out, "process_virtual_memory_bytes", std::stod(field[kVsize]));
      Header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
      Sample(out, "process_resident_memory_bytes", std::stod(field[kRss]) * page_bytes);
      std::ifstream proc_stat("/proc/stat");
      std::string key;
      double boot_time = 0;
      while (proc_stat >> key) {
        if (key == "btime") {
          proc_stat >> boot_time;
          break;
        }
      }
      Header(out, "process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
      Sample(out, "process_start_time_seconds", boot_time + std::stod(field[kStartTime]) / ticks);
    }
  }
  uint64_t open_fds = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++open_fds;
    }
    closedir(dir);
    --open_fds;  // the one opendir itself holds
  }
  Header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
  Sample(out, "process_open_fds", open_fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    Header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    Sample(out, "process_max_fds", static_cast<uint64_t>(limit.rlim_cur));
  }
}

// A large answer is written into memory fresh from the kernel (glibc maps allocations this big
// anew each time), one 4 KiB page fault each: at 100,000 services about 25,000 faults a scrape,
// a quarter of its CPU (docs/performance.md, "What limits each figure", section 8). Asking for
// transparent huge pages (where the kernel gives them on request, as in its default "madvise"
// mode) makes that a few dozen faults. Only the 2 MiB pages wholly inside the buffer; nothing
// happens when the kernel refuses.
void AskForHugePages(char* data, size_t bytes) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20U;
  if (bytes < 2 * kHugePage) return;
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = (begin + bytes) & ~(kHugePage - 1);
  if (last > first) madvise(data + (first - begin), last - first, MADV_HUGEPAGE);
}

void AppendServiceSeries(std::string* out, const std::vector<const ServiceMetrics*>& services) {
  std::vector<std::string> ids;  // each series' labels, escaped once, used by every family
  ids.reserve(services.size());
  for (const ServiceMetrics* service : services) ids.push_back(SeriesLabels(*service->service_id));

  Header(out, "driftwatch_service_state", "gauge",
         "1 for the service's drift state, 0 for the other two.");
  for (size_t i = 0; i < services.size(); ++i) {
    for (ServiceState state : kStates) {
      ServiceSample(out, "driftwatch_service_state", ids[i], "state", ServiceStateName(state),
                    uint64_t{services[i]->state == state ? 1U : 0U});
    }
  }
  Header(out, "driftwatch_service_zscore", "gauge",
         "Signed z-score of the service's last sample against its baseline (0 before any).");
  for (size_t i = 0; i < services.size(); ++i) {
    ServiceSample(out, "driftwatch_service_zscore", ids[i], services[i]->zscore);
  }
  Header(out, "driftwatch_service_baseline_latency_seconds", "gauge",
         "The service's latency baseline, in seconds; absent until it has one.");
  for (size_t i = 0; i < services.size(); ++i) {
    const Baseline& b = services[i]->baseline;
    if (!b.valid) continue;
    const std::array<std::pair<const char*, double>, 5> stats = {{{"mean", b.mean_latency},
                                                                  {"stddev", b.stddev_latency},
                                                                  {"p50", b.p50_latency},
                                                                  {"p95", b.p95_latency},
                                                                  {"p99", b.p99_latency}}};
    for (const auto& [stat, milliseconds] : stats) {
      ServiceSample(out, "driftwatch_service_baseline_latency_seconds", ids[i], "stat", stat,
                    milliseconds / kMsPerSecond);
    }
  }
  Header(out, "driftwatch_service_samples_total", "counter",
         "Samples the service has processed, as GET /v1/health counts them.");
  for (size_t i = 0; i < services.size(); ++i) {
    ServiceSample(out, "driftwatch_service_samples_total", ids[i], services[i]->sample_count);
  }
  Header(out, "driftwatch_service_last_transition_timestamp_seconds", "gauge",
         "Timestamp of the service's last state transition; absent before the first.");
  for (size_t i = 0; i < services.size(); ++i) {
    if (!services[i]->transition_timestamp_ms) continue;
    ServiceSample(out, "driftwatch_service_last_transition_timestamp_seconds", ids[i],
                  static_cast<double>(*services[i]->transition_timestamp_ms) / kMsPerSecond);
  }
}

}  // namespace

void AppendLabelValue(std::string* out, std::string_view value) {
  size_t plain = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out->append(value.substr(plain, i - plain));
    out->append(c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\");
    plain = i + 1;
  }
  out->append(value.substr(plain));
}

std::string RenderMetrics(const MetricsInput& input) {
  const EngineStatus& status = input.status;
  const EngineMetrics& metrics = input.metrics;
  std::string out;
  // About 1 KB per service with per-service series: one allocation instead of dozens.
  constexpr size_t kBytesPerService = 1024;
  constexpr size_t kFixedBytes = 16384;
  out.reserve(kFixedBytes + input.services.size() * kBytesPerService);
  AskForHugePages(out.data(), out.capacity());

  Header(&out, "driftwatch_build_info", "gauge", "Always 1; the version that is running.");
  Sample(&out, "driftwatch_build_info", "version", input.version, uint64_t{1});

  std::array<uint64_t, kStates.size()> by_state{};
  for (const ServiceMetrics& service : input.services) {
    if (!IsEndpointSeriesKey(*service.service_id)) ++by_state[static_cast<size_t>(service.state)];
  }
  Header(&out, "driftwatch_services", "gauge", "Monitored services, by drift state.");
  for (ServiceState state : kStates) {
    Sample(&out, "driftwatch_services", "state", ServiceStateName(state),
           by_state[static_cast<size_t>(state)]);
  }

  Header(&out, "driftwatch_samples_accepted_total", "counter", "Samples accepted for processing.");
  Sample(&out, "driftwatch_samples_accepted_total", status.samples_accepted);
  Header(&out, "driftwatch_endpoint_overflow_total", "counter",
         "Samples whose endpoint series could not be added (series.max_endpoints_per_service or "
         "ingest.max_services); their services took them.");
  Sample(&out, "driftwatch_endpoint_overflow_total", status.endpoint_overflow);
  Header(&out, "driftwatch_samples_rejected_total", "counter",
         "Samples refused at ingest (503, 429 or 500), by reason.");
  for (size_t i = 0; i < kRejectReasons; ++i) {
    Sample(&out, "driftwatch_samples_rejected_total", "reason",
           RejectReasonName(static_cast<RejectReason>(i)), metrics.samples_rejected[i]);
  }
  Header(&out, "driftwatch_drift_events_total", "counter",
         "State transitions (drift events), by reason.");
  for (const auto& [reason, count] : metrics.drift_events) {
    Sample(&out, "driftwatch_drift_events_total", "reason", reason, count);
  }
  Header(&out, "driftwatch_ingest_queue_depth", "gauge", "Samples queued, not yet processed.");
  Sample(&out, "driftwatch_ingest_queue_depth", status.queue_depth);
  Header(&out, "driftwatch_storage_pending_samples", "gauge",
         "Samples processed, not yet committed to storage.");
  Sample(&out, "driftwatch_storage_pending_samples", status.storage_pending_samples);

  const CommitDurations& durations = metrics.commit_durations;
  Header(&out, "driftwatch_storage_commit_duration_seconds", "histogram",
         "Time each storage commit (one write to the store) took.");
  for (size_t i = 0; i < CommitDurations::kBuckets; ++i) {
    std::string bound;
    AppendNumber(&bound, CommitDurations::kBoundsSeconds[i]);
    Sample(&out, "driftwatch_storage_commit_duration_seconds_bucket", "le", bound,
           durations.cumulative[i]);
  }
  Sample(&out, "driftwatch_storage_commit_duration_seconds_bucket", "le", "+Inf", durations.count);
  Sample(&out, "driftwatch_storage_commit_duration_seconds_sum", durations.sum_seconds);
  Sample(&out, "driftwatch_storage_commit_duration_seconds_count", durations.count);

  Header(&out, "driftwatch_storage_healthy", "gauge",
         "1 while storage commits succeed, 0 while they fail.");
  Sample(&out, "driftwatch_storage_healthy", uint64_t{status.storage_healthy ? 1U : 0U});
  Header(&out, "driftwatch_detector_errors_total", "counter",
         "Detector plugin failures, by detector (\"unknown\" when not known).");
  for (const auto& [detector, count] : metrics.detector_errors) {
    Sample(&out, "driftwatch_detector_errors_total", "detector", detector, count);
  }
  // Without notify.targets: the families, without series.
  Header(&out, "driftwatch_notifications_total", "counter",
         "Notification delivery attempts since start, by target and outcome (delivered, failed: "
         "given up; retried: failed and tried again).");
  for (const notify::TargetStatus& target : input.notification_targets) {
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"delivered", target.delivered}, {"failed", target.failed}, {"retried", target.retried}};
    for (const auto& [outcome, count] : outcomes) {
      out += "driftwatch_notifications_total{target=\"";
      AppendLabelValue(&out, target.name);
      out += "\",outcome=\"";
      out += outcome;
      out += "\"} ";
      out += std::to_string(count);
      out += '\n';
    }
  }
  Header(&out, "driftwatch_notifications_pending", "gauge",
         "Notifications waiting to be sent, by target.");
  for (const notify::TargetStatus& target : input.notification_targets) {
    Sample(&out, "driftwatch_notifications_pending", "target", target.name, target.pending);
  }

  // Above the limit, only the services worth looking at (not STABLE) get series of their own.
  std::vector<const ServiceMetrics*> exposed;
  const bool limited = input.services.size() > input.per_service_limit;
  exposed.reserve(limited ? input.services.size() - by_state[1] : input.services.size());
  for (const ServiceMetrics& service : input.services) {
    if (!limited || service.state != ServiceState::kStable) exposed.push_back(&service);
  }
  Header(&out, "driftwatch_metrics_services_omitted", "gauge",
         "Services left without per-service series (metrics.per_service_limit).");
  Sample(&out, "driftwatch_metrics_services_omitted",
         static_cast<uint64_t>(input.services.size() - exposed.size()));
  AppendServiceSeries(&out, exposed);
  AppendProcessMetrics(&out);
  return out;
}

MetricsRenderThread::~MetricsRenderThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void MetricsRenderThread::Render(MetricsInput&& input, Done done) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(input), std::move(done));
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  wake_.notify_one();
}

void MetricsRenderThread::Run() {
  // On Linux a nice value belongs to a thread (its tid), not to the whole process. Raising it
  // needs no privilege; if it fails anyway, scrapes are rendered at the usual priority.
  const auto tid = static_cast<id_t>(gettid());
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) {
    constexpr int kLowest = 19;
    setpriority(PRIO_PROCESS, tid, std::min(kLowest, nice + kMetricsRenderNiceIncrement));
  }
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, with nothing left to render
    std::pair<MetricsInput, Done> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    job.second(RenderMetrics(job.first));
    lock.lock();
  }
}

}  // namespace driftwatch::api
