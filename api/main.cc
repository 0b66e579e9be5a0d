// driftwatch: the service. Start-up in order (config, plugins, detectors, store, engine, HTTP),
// the banner, then main waits for SIGINT/SIGTERM and stops in reverse order: stop accepting,
// drain the ingest queue, flush storage, exit 0.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"
#include "api/openapi.h"
#include "api/router.h"
#include "api/store_stats.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "core/plugin_loader.h"
#include "core/storage.h"
#include "notify/sender.h"
#include "replay/replay_cli.h"

// GCC defines these under -fsanitize; clang 14 tells through __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DRIFTWATCH_SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DRIFTWATCH_SANITIZER_RUNTIME 1
#endif
#endif
#ifdef DRIFTWATCH_SANITIZER_RUNTIME
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

using driftwatch::Status;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr auto kStoreStatsInterval = std::chrono::seconds(1);

constexpr char kUsage[] =
    "Usage: driftwatch [--config FILE] [--host ADDR] [--port N] [--db PATH]\n"
    "                  [--plugin-dir DIR]... [--log-format text|json] [--help] [--version]\n"
    "       driftwatch replay [OPTION]... INPUT...   (see 'driftwatch replay --help')\n"
    "\n"
    "Runs the DriftWatch service. With no options: 0.0.0.0:8000, ./driftwatch.db and the\n"
    "bundled plugins. Options override the config file.\n"
    "\n"
    "  --config FILE      YAML config file (see docs/configuration.md)\n"
    "  --host ADDR        address to listen on (default 0.0.0.0)\n"
    "  --port N           port to listen on, 0 for any free port (default 8000)\n"
    "  --db PATH          database file (default driftwatch.db)\n"
    "  --plugin-dir DIR   load plugins from DIR too (repeatable)\n"
    "  --log-format FMT   text (default; with journald's level prefixes under systemd)\n"
    "                     or json: one JSON object per log line\n"
    "  --help             print this help and exit\n"
    "  --version          print the version and exit\n"
    "\n"
    "SIGINT or SIGTERM stops it gracefully: queued samples are processed and stored first.\n";

struct Flags {
  std::optional<std::string> config_file;
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> db;
  std::vector<std::string> plugin_dirs;
  driftwatch::log::Format log_format = driftwatch::log::Format::kText;
  bool help = false;
  bool version = false;
};

// Parses the command line; on a usage error returns its message.
std::optional<std::string> ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags->help = true;
      continue;
    }
    if (arg == "--version") {
      flags->version = true;
      continue;
    }
    std::string name(arg);
    std::optional<std::string> value;
    if (const size_t equals = name.find('='); name.starts_with("--") && equals != name.npos) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    const bool known = name == "--config" || name == "--host" || name == "--port" ||
                       name == "--db" || name == "--plugin-dir" || name == "--log-format";
    if (!known) return "unknown option '" + std::string(arg) + "'";
    if (!value) {
      if (i + 1 >= argc) return "option '" + name + "' needs a value";
      value = argv[++i];
    }
    if (name == "--config") {
      flags->config_file = *value;
    } else if (name == "--host") {
      if (value->empty()) return "--host needs an address";
      flags->host = *value;
    } else if (name == "--port") {
      const bool digits = !value->empty() && value->size() <= 5 &&
                          value->find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoul(*value) > 65535) {
        return "--port must be a number from 0 to 65535, got '" + *value + "'";
      }
      flags->port = static_cast<uint16_t>(std::stoul(*value));
    } else if (name == "--db") {
      if (value->empty()) return "--db needs a path";
      flags->db = *value;
    } else if (name == "--log-format") {
      if (*value == "text") {
        flags->log_format = driftwatch::log::Format::kText;
      } else if (*value == "json") {
        flags->log_format = driftwatch::log::Format::kJson;
      } else {
        return "--log-format must be text or json, got '" + *value + "'";
      }
    } else {
      flags->plugin_dirs.push_back(*value);
    }
  }
  return std::nullopt;
}

// Every connection is a file descriptor, and a soft limit of 1024 is still common: take what the
// hard limit allows, as most servers do. server.max_connections defaults from the result.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// Sanitizer builds only: a sanitizer reads the binaries' symbols and lines when it first
// symbolizes, and opening them takes descriptors. A report made while every descriptor was in use
// (tests/hardening runs the service out of them on purpose) had no function names or lines. One
// address symbolized now, after the plugins are loaded, has them read while descriptors are free.
void PrimeSanitizerSymbolizer() {
#ifdef DRIFTWATCH_SANITIZER_RUNTIME
  char text[256];
  __sanitizer_symbolize_pc(__builtin_return_address(0), "%F %L", text, sizeof text);
#endif
}

int Fail(const std::string& message) {
  driftwatch::log::Error(message);
  return kExitFailure;
}

void Warn(const std::string& message) { driftwatch::log::Warning("warning: " + message); }

// What the service says on stdout on a terminal (the banner, the stop); one info line each in
// the journal or in JSON logs (docs/behaviour.md, Command line).
void Say(const std::string& plain, const std::string& structured) {
  if (driftwatch::log::Structured()) {
    driftwatch::log::Info(structured);
    return;
  }
  std::fputs(plain.c_str(), stdout);
  std::fflush(stdout);
}

// The config's plugin directories, then --plugin-dir (core/plugin_loader.h, LoadPlugins).
Status LoadPlugins(const driftwatch::Config& config, const std::vector<std::string>& flag_dirs,
                   driftwatch::PluginRegistry* registry) {
  std::vector<std::string> dirs = config.plugin_dirs;
  dirs.insert(dirs.end(), flag_dirs.begin(), flag_dirs.end());
  std::vector<std::string> warnings;
  Status loaded = driftwatch::LoadPlugins(registry, dirs, &warnings);
  for (const std::string& warning : warnings) Warn(warning);
  return loaded;
}

// The framed banner on a terminal (and any other stdout); one line in the journal or JSON logs.
void PrintBanner(const driftwatch::Config& config, const std::string& url) {
  const std::string rule(60, '=');
  std::string database = config.storage.path;
  if (config.storage.plugin == "postgresql") {
    // Its namespace, never its URL: that may carry a password.
    database = "PostgreSQL namespace 'driftwatch'";
    for (const driftwatch::Param& param : config.storage.backend_params) {
      if (param.key == "namespace") database = "PostgreSQL namespace '" + param.value + "'";
    }
  } else if (config.storage.plugin != "sqlite") {
    database += " (storage: " + config.storage.plugin + ")";
  }
  if (driftwatch::log::Structured()) {
    driftwatch::log::Info("DriftWatch " DRIFTWATCH_VERSION " is ready: database connected: " +
                          database + "; API listening on " + url);
    return;
  }
  std::printf("%s\nDriftWatch - Statistical Drift Detection Platform\n%s\n", rule.c_str(),
              rule.c_str());
  std::printf("\u2713 Database connected: %s\n", database.c_str());
  std::printf("\u2713 Telemetry ingestion service started\n");
  std::printf("\u2713 DriftWatch is ready\n");
  std::printf("\u2713 API listening on %s\n", url.c_str());
  std::printf("%s\n", rule.c_str());
  std::fflush(stdout);
}

int Run(const Flags& flags, const sigset_t& stop_signals) {
  driftwatch::Config config;
  if (flags.config_file) {
    Status loaded = driftwatch::LoadConfigFile(*flags.config_file, &config);
    if (!loaded.ok()) return Fail(loaded.message());
  }
  if (flags.host) config.server.host = *flags.host;
  if (flags.port) config.server.port = *flags.port;
  if (flags.db) config.storage.path = *flags.db;

  // Declared in start-up order, so they are destroyed in the reverse order.
  driftwatch::PluginRegistry registry;
  if (Status loaded = LoadPlugins(config, flags.plugin_dirs, &registry); !loaded.ok()) {
    return Fail(loaded.message());
  }
  PrimeSanitizerSymbolizer();
  driftwatch::DetectorSet detectors;
  if (Status built = driftwatch::BuildDetectorSet(config, registry, &detectors); !built.ok()) {
    return Fail(built.message());
  }
  std::unique_ptr<driftwatch::Store> store;
  std::vector<driftwatch::Param> store_params = {{"path", config.storage.path}};
  store_params.insert(store_params.end(), config.storage.backend_params.begin(),
                      config.storage.backend_params.end());
  Status opened = driftwatch::Store::Open(registry, config.storage.plugin, store_params, &store);
  if (opened.kind() == Status::Kind::kNotFound) return Fail(opened.message());
  if (!opened.ok()) {
    return Fail("cannot open the database '" + config.storage.path + "': " + opened.message());
  }
  std::unique_ptr<driftwatch::Engine> engine;
  Status created = driftwatch::Engine::Create(config, detectors, store.get(), &engine);
  if (created.kind() == Status::Kind::kInvalidArgument) return Fail(created.message());
  if (!created.ok()) {
    return Fail("cannot restore the state stored in '" + config.storage.path +
                "': " + created.message());
  }
  // Notifications: delivered by the sender's threads; what becomes of each goes back to the store
  // with the engine's commits (docs/operations.md, "Notifications").
  std::unique_ptr<driftwatch::notify::NotificationSender> sender;
  // Destroyed before `sender`: the engine, which outlives it, must stop handing it rows first.
  struct SinkDetacher {
    driftwatch::Engine* engine;
    ~SinkDetacher() { engine->SetNotificationSink(nullptr); }
  } const detach_sink{engine.get()};
  if (!config.notify.targets.empty()) {
    driftwatch::Engine* engine_ptr = engine.get();
    sender = std::make_unique<driftwatch::notify::NotificationSender>(
        config.notify, [engine_ptr](std::vector<driftwatch::StoredNotification>&& updates) {
          engine_ptr->RecordNotificationUpdates(std::move(updates));
        });
    Status loaded = sender->Load(
        [&store](const driftwatch::Store::NotificationFilter& filter, const auto& visit) {
          return store->ScanNotifications(filter, visit);
        });
    if (!loaded.ok()) return Fail("cannot read the notification outbox: " + loaded.message());
    engine->SetNotificationSink(sender.get());
    sender->Start();
  }
  engine->Start();

  driftwatch::api::StoreStatsPoller store_stats(store.get(), kStoreStatsInterval);
  driftwatch::api::ApiContext context;
  context.engine = engine.get();
  context.config = &config;
  context.plugins = registry.plugins();
  context.version = DRIFTWATCH_VERSION;
  context.store_stats = [&store_stats](driftwatch::StoreStats* out) {
    return store_stats.Latest(out);
  };
  context.notifications = sender.get();
  context.openapi_json = driftwatch::api::OpenApiDocument(DRIFTWATCH_VERSION);
  context.docs_html = driftwatch::api::RenderDocsHtml(context.openapi_json);
  const driftwatch::api::Router router(std::move(context));

  std::unique_ptr<driftwatch::api::HttpServer> server;
  Status listening = driftwatch::api::HttpServer::Start(config.server, &router, &server);
  if (!listening.ok()) return Fail(listening.message());
  PrintBanner(config, server->url());
  // Under systemd (Type=notify), `systemctl start` returns now: the store is open, the state
  // restored and the port bound (docs/operations.md, Running under systemd). Without
  // NOTIFY_SOCKET in the environment this does nothing.
  sd_notifyf(0, "READY=1\nSTATUS=API listening on %s", server->url().c_str());

  int received = 0;
  sigwait(&stop_signals, &received);
  sd_notify(0, "STOPPING=1\nSTATUS=Stopping: draining the ingest queue, flushing storage");
  const std::string signal_name = received == SIGINT ? "SIGINT" : "SIGTERM";
  Say("Received " + signal_name + ": stopping (draining the ingest queue, flushing storage)...\n",
      "received " + signal_name + ": stopping (draining the ingest queue, flushing storage)");
  server->Stop();  // no request is answered from here on
  // Before the engine: what the sender records is committed by the engine's last commit, and what
  // is still pending is delivered after the next start.
  if (sender != nullptr) sender->Stop();
  const bool flushed = engine->Stop();
  store_stats.Stop();
  if (!flushed) {
    const std::string error = engine->GetStatus().storage_error;
    return Fail("could not store everything before stopping: " + error);
  }
  Say("\u2713 DriftWatch stopped\n", "stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // `driftwatch replay ...`: recorded telemetry through the same pipeline, offline
  // (docs/replay.md).
  if (argc > 1 && std::string_view(argv[1]) == "replay") {
    return driftwatch::replay::ReplayMain(argc - 1, argv + 1);
  }
  Flags flags;
  if (std::optional<std::string> error = ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr, "driftwatch: %s\nTry 'driftwatch --help'.\n", error->c_str());
    return kExitUsage;
  }
  if (flags.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (flags.version) {
    std::printf("driftwatch %s\n", DRIFTWATCH_VERSION);
    return kExitOk;
  }
  driftwatch::log::Init(flags.log_format);

  // Before any thread starts, so every thread inherits the mask and only sigwait below takes
  // SIGINT/SIGTERM. SIGPIPE: a client that hangs up must not kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();

  return Run(flags, stop_signals);
}
