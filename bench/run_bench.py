#!/usr/bin/env python3
"""Runs every DriftWatch benchmark and writes docs/performance.md. Started by bench/run.sh.

Every figure is the median of several runs, and every "vs reference" figure is a ratio against a
reference measured in the same run, interleaved with it, because these machines are shared and
noisy. Python's standard library only.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK_SCRIPT = os.path.join(REPO, "bench", "wrk", "ingest.lua")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The project's performance targets.
TARGET_INGEST_RATIO = 0.90
TARGET_BATCH_RATIO = 0.60
TARGET_DETECTION_P99_MS = 5.0
TARGET_REFRESH_US = 20.0
TARGET_IDLE_RSS_MB = 20.0
TARGET_PER_SERVICE_KB = 16.0
TARGET_DISK_MB_PER_10K = 0.4
TARGET_REPLAY_NAB_SECONDS = 2.0
TARGET_REPLAY_RATIO = 0.80
TARGET_SCRAPE_CPU_SECONDS = 1.0
TARGET_LOCK_HOLD_US = 1000.0
TARGET_POSTGRES_BATCH_RATIO = 0.50
# NAB's corpus for the replay benchmark (not in the repository; skipped when absent).
NAB_DIR = os.environ.get("DRIFTWATCH_NAB_DIR", os.path.join(os.path.dirname(REPO), "shared", "nab"))

MAIN_SERVICES = 100
# bench/memory_bench.cc --values: measured = what a client that reads a clock and counts bytes sends
# (full-precision latency, payload = bytes / 1024); decimal = values sent with three decimals; random = full-precision
# doubles for both, the worst case.
MEMORY_VALUE_KINDS = ("measured", "decimal", "random")
MEMORY_VALUE_LABELS = {
    "measured": ("latency a full-precision double, payload whole bytes / 1024 (a client that reads a "
                 "clock and counts bytes)"),
    "decimal": "both with three decimals",
    "random": "both full-precision random doubles (worst case)",
}
ROWS_PER_SERVICE_FOR_STABLE = 120  # > baseline.min_samples, so every service gets a baseline


class Mode:
    def __init__(self, quick):
        self.quick = quick
        self.name = "quick" if quick else "full"
        self.reps = 1 if quick else 5  # the shared machine moves single runs by +-10 %
        self.wrk_seconds = 2 if quick else 5
        self.warmup_seconds = 1
        self.batch_samples = 100_000 if quick else 500_000
        self.probes = 200 if quick else 500
        self.core_repetitions = 2 if quick else 5
        self.memory_services = [10_000] if quick else [10_000, 100_000]
        self.scaling = not quick


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average():
    return "%.2f %.2f %.2f" % os.getloadavg()


def median(values):
    return statistics.median(values) if values else float("nan")


# ---- processes ----------------------------------------------------------------------------------


class Server:
    """A server process we started; stopped by its own pid only."""

    def __init__(self, name, argv, banner, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=workdir)
        deadline = time.monotonic() + 20
        self.url = None
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log_path) as output:
                match = re.search(banner, output.read())
            if match:
                self.url = match.group(1)
                break
            time.sleep(0.05)
        if self.url is None:
            self.stop()
            with open(self.log_path) as output:
                raise RuntimeError(f"{name} did not start:\n{output.read()}")
        self.url = self.url.replace("0.0.0.0", "127.0.0.1")

    @property
    def pid(self):
        return self.process.pid

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def rss_bytes(self):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Bench:
    def __init__(self, build_dir, mode, workdir):
        self.bin = os.path.join(build_dir, "bin")
        self.mode = mode
        self.workdir = workdir
        self.servers = []
        self.idle_rss = []  # the service's RSS 1 s after each start, before any request
        self.counter = 0

    def fresh_path(self, stem):
        self.counter += 1
        return os.path.join(self.workdir, f"{stem}-{self.counter}")

    def start_driftwatch(self, threads, extra_config=""):
        config = self.fresh_path("config") + ".yaml"
        with open(config, "w") as out:
            out.write(f"server:\n  threads: {threads}\n{extra_config}")
        db = self.fresh_path("driftwatch") + ".db"
        server = Server(f"driftwatch-{self.counter}",
                        [os.path.join(self.bin, "driftwatch"), "--host", "127.0.0.1", "--port",
                         "0", "--db", db, "--config", config],
                        r"API listening on (http://\S+)", self.workdir)
        server.db = db
        self.servers.append(server)
        time.sleep(1.0)
        self.idle_rss.append(server.rss_bytes())
        return server

    def start_bare(self, threads):
        self.counter += 1
        server = Server(f"bare-{self.counter}",
                        [os.path.join(self.bin, "bare_pistache"), "--threads", str(threads)],
                        r"listening on (http://\S+)", self.workdir)
        self.servers.append(server)
        return server

    def stop(self, server):
        server.stop()
        self.servers.remove(server)

    def stop_all(self):
        for server in list(self.servers):
            self.stop(server)

    def run_json(self, argv, timeout=900):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    # ---- wrk ------------------------------------------------------------------------------------

    def wrk_command(self, url, connections, seconds, services, rate_per_thread=None):
        threads = 2 if connections >= 2 else 1
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", WRK_SCRIPT, url,
                "--", str(services)]
        env = dict(os.environ)
        env.pop("DW_WRK_PACED", None)
        if rate_per_thread:
            argv.append("%.1f" % rate_per_thread)
            env["DW_WRK_PACED"] = "1"
        return argv, env

    @staticmethod
    def parse_wrk(text):
        for line in text.splitlines():
            if line.startswith("WRK_JSON "):
                return json.loads(line[len("WRK_JSON "):])
        raise RuntimeError(f"no WRK_JSON line in wrk's output:\n{text}")

    def wrk(self, server, connections, seconds, services):
        argv, env = self.wrk_command(server.url, connections, seconds, services)
        cpu_before = server.cpu_seconds()
        result = subprocess.run(argv, capture_output=True, text=True, env=env,
                                timeout=seconds + 60)
        cpu = server.cpu_seconds() - cpu_before
        figures = self.parse_wrk(result.stdout)
        figures["server_cpu_us_per_request"] = (cpu * 1e6 / figures["requests"]
                                                if figures["requests"] else float("nan"))
        errors = sum(figures[k] for k in ("errors_connect", "errors_read", "errors_write",
                                          "errors_timeout", "non_2xx"))
        if errors:
            log(f"  warning: wrk saw {errors} errors or non-2xx answers: {figures}")
        return figures

    def preload(self, server, services):
        """Gives every service a baseline, so the measured traffic is scored (STABLE)."""
        if services <= 1000:
            return None  # the warm-up run does it
        return self.run_json([os.path.join(self.bin, "batch_ingest"), "--url", server.url,
                              "--samples", str(services * ROWS_PER_SERVICE_FOR_STABLE),
                              "--services", str(services)])


# ---- 1 + 3 + 7: single-sample ingest, detection latency, their scaling --------------------------


def ingest_block(bench, threads, connections, service_counts, latency):
    """Interleaved wrk runs against the bare reference and one DriftWatch per service count, all
    started together; then, optionally, the detection latency on each DriftWatch at half of its
    own measured maximum."""
    mode = bench.mode
    bare = bench.start_bare(threads)
    services_servers = {}
    for services in service_counts:
        server = bench.start_driftwatch(threads)
        bench.preload(server, services)
        services_servers[services] = server
    targets = [("bare", bare, MAIN_SERVICES)] + [
        (f"driftwatch/{s}", server, s) for s, server in services_servers.items()]
    for _, server, services in targets:
        bench.wrk(server, connections, mode.warmup_seconds, services)

    runs = {name: [] for name, _, _ in targets}
    for rep in range(mode.reps):
        order = targets[rep % len(targets):] + targets[:rep % len(targets)]  # rotate who goes first
        for name, server, services in order:
            runs[name].append(bench.wrk(server, connections, mode.wrk_seconds, services))
        log(f"  threads={threads} c={connections} rep {rep + 1}: " + ", ".join(
            f"{name} {runs[name][-1]['requests_per_second']:.0f}/s" for name, _, _ in targets))

    results = []
    for services, server in services_servers.items():
        name = f"driftwatch/{services}"
        ratios = [dw["requests_per_second"] / ref["requests_per_second"]
                  for dw, ref in zip(runs[name], runs["bare"])]
        results.append({
            "threads": threads, "connections": connections, "services": services,
            "driftwatch": runs[name], "bare": runs["bare"],
            "ratio_median": median(ratios), "ratios": ratios,
        })

    latencies = []
    if latency:
        for services, server in services_servers.items():
            max_rate = median([r["requests_per_second"] for r in runs[f"driftwatch/{services}"]])
            latencies.append(detection_latency(bench, server, threads, services, max_rate))
    for server in [bare] + list(services_servers.values()):
        bench.stop(server)
    return results, latencies


def detection_latency(bench, server, threads, services, max_rate):
    mode = bench.mode
    connections = 32
    target_rate = max_rate / 2
    reps = []
    for rep in range(mode.reps):
        argv, env = bench.wrk_command(server.url, connections, 600, services,
                                      rate_per_thread=target_rate / 2)
        background = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env)
        try:
            time.sleep(1.0)
            probe = bench.run_json([os.path.join(bench.bin, "detection_latency"), "--url",
                                    server.url, "--probes", str(mode.probes), "--prefix",
                                    f"probe-{bench.counter}-{rep}"])
        finally:
            background.send_signal(signal.SIGINT)  # wrk stops and prints its summary
            output, _ = background.communicate(timeout=30)
        load = bench.parse_wrk(output)
        probe["background_requests_per_second"] = load["requests_per_second"]
        reps.append(probe)
        log(f"  latency threads={threads} services={services} rep {rep + 1}: p99 drift "
            f"{probe['drift_detected']['p99_us']:.0f} us, established "
            f"{probe['baseline_established']['p99_us']:.0f} us at "
            f"{load['requests_per_second']:.0f} req/s")
    return {"threads": threads, "services": services, "max_rate": max_rate,
            "target_rate": target_rate, "reps": reps}


# ---- 2 + 6: batch ingest and disk -----------------------------------------------------------------


def batch_block(bench, threads, services, samples, measure_disk):
    mode = bench.mode
    reps = []
    for rep in range(mode.reps):
        raw_db = bench.fresh_path("raw") + ".db"
        raw = bench.run_json([os.path.join(bench.bin, "raw_sqlite"), "insert", "--db", raw_db,
                              "--samples", str(samples), "--services", str(services)])
        server = bench.start_driftwatch(threads)
        dw = bench.run_json([os.path.join(bench.bin, "batch_ingest"), "--url", server.url,
                             "--samples", str(samples), "--services", str(services)])
        dw["rss_after_bytes"] = server.rss_bytes()
        bench.stop(server)  # graceful: drains, snapshots, checkpoints the WAL
        entry = {"raw": raw, "driftwatch": dw,
                 "ratio": dw["samples_per_second"] / raw["rows_per_second"]}
        if measure_disk and rep == mode.reps - 1:
            entry["disk_driftwatch"] = bench.run_json(
                [os.path.join(bench.bin, "raw_sqlite"), "disk", "--db", server.db])
            entry["disk_raw"] = bench.run_json(
                [os.path.join(bench.bin, "raw_sqlite"), "disk", "--db", raw_db])
        for path in (raw_db, server.db):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        reps.append(entry)
        log(f"  batch threads={threads} services={services} rep {rep + 1}: driftwatch "
            f"{dw['samples_per_second']:.0f}/s, raw {raw['rows_per_second']:.0f}/s "
            f"({entry['ratio']:.0%})")
    return {"threads": threads, "services": services, "samples": samples, "reps": reps,
            "ratio_median": median([r["ratio"] for r in reps])}


# ---- 9: GET /metrics over HTTP ----------------------------------------------------------------


def scrape_every_second(url, stop, scrapes):
    """Until `stop` is set: GET /metrics once a second with curl (its body thrown away), as a
    Prometheus with a 1 s scrape interval would; appends each scrape's seconds and bytes."""
    while not stop.is_set():
        started = time.monotonic()
        done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                               url + "/metrics"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            scrapes.append((time.monotonic() - started, int(done.stdout or 0)))
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def metrics_http(bench, services):
    """Single-sample ingest (wrk, 32 connections, cycling over all `services`) into one
    DriftWatch whose `services` services all have a baseline and all get per-service series, in
    runs without scrapes and with a scrape every second, interleaved."""
    mode = bench.mode
    server = bench.start_driftwatch(
        2, "baseline:\n  min_samples: 20\n  window_size: 20\n"
        f"metrics:\n  per_service_limit: {services + 1}\n")
    bench.run_json([os.path.join(bench.bin, "batch_ingest"), "--url", server.url, "--samples",
                    str(services * 25), "--services", str(services)])
    alone = []  # scrapes with nothing else running: the server's CPU for a whole HTTP scrape
    for _ in range(3):
        cpu_before, started = server.cpu_seconds(), time.monotonic()
        subprocess.run(["curl", "-sS", "-o", "/dev/null", server.url + "/metrics"], check=True,
                       timeout=120)
        alone.append({"seconds": time.monotonic() - started,
                      "server_cpu_seconds": server.cpu_seconds() - cpu_before})
    bench.wrk(server, 32, mode.warmup_seconds, services)
    runs = {"without": [], "with": []}
    scrapes = []
    for rep in range(mode.reps):
        order = ["without", "with"] if rep % 2 == 0 else ["with", "without"]
        for kind in order:
            stop = threading.Event()
            scraper = None
            if kind == "with":
                scraper = threading.Thread(target=scrape_every_second,
                                           args=(server.url, stop, scrapes))
                scraper.start()
            runs[kind].append(bench.wrk(server, 32, mode.wrk_seconds, services))
            stop.set()
            if scraper:
                scraper.join()
        log(f"  /metrics over HTTP rep {rep + 1}: without scrapes "
            f"{runs['without'][-1]['requests_per_second']:.0f}/s, with "
            f"{runs['with'][-1]['requests_per_second']:.0f}/s")
    bench.stop(server)
    ratios = [w["requests_per_second"] / wo["requests_per_second"]
              for w, wo in zip(runs["with"], runs["without"])]
    return {"services": services, "without": runs["without"], "with": runs["with"],
            "ratios": ratios, "ratio_median": median(ratios), "scrapes_alone": alone,
            "scrape_seconds": [t for t, _ in scrapes], "scrape_bytes": [b for _, b in scrapes]}


# ---- 10: PostgreSQL ------------------------------------------------------------------------------


def postgres_copy_rows_per_second(url, samples, services, table):
    """The reference: the same number of rows, of the same shape as bench/bench_rows.h's, into a
    table like the plugin's samples table, by COPY FROM STDIN through libpq (psql), 1000 rows per
    transaction as bench/raw_sqlite.cc commits them."""
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url]
    subprocess.run(psql + ["-c", f"CREATE TABLE {table} (service_key bigint NOT NULL, seq bigint "
                           "NOT NULL, timestamp_ms bigint NOT NULL, latency_ms float8 NOT NULL, "
                           "payload_kb float8, PRIMARY KEY (service_key, seq))"],
                   check=True, capture_output=True)
    generator = random.Random(42)
    first_ms = int(time.time() * 1000) - 3600 * 1000
    chunks = []
    for first in range(0, samples, 1000):
        rows = [f"{n % services + 1}\t{n // services + 1}\t{first_ms + n}\t"
                f"{max(1.0, generator.gauss(150, 25)):.3f}\t"
                f"{max(0.0, generator.gauss(2.45, 0.76)):.3f}\n"
                for n in range(first, min(samples, first + 1000))]
        chunks.append(f"BEGIN;\nCOPY {table} FROM STDIN;\n{''.join(rows)}\\.\nCOMMIT;\n")
    script = "".join(chunks)
    started = time.monotonic()
    subprocess.run(psql + ["-f", "-"], input=script, text=True, check=True, capture_output=True)
    seconds = time.monotonic() - started
    subprocess.run(psql + ["-c", f"DROP TABLE {table}"], check=True, capture_output=True)
    return samples / seconds


def postgres_block(bench):
    """Batch and single-sample ingest with `storage.plugin: postgresql`, on a throwaway server
    started by tests/postgres/postgres_server.sh. None (skipped) without PostgreSQL."""
    mode = bench.mode
    server_script = os.path.join(REPO, "tests", "postgres", "postgres_server.sh")
    plugin = os.path.join(os.path.dirname(bench.bin), "lib", "driftwatch", "plugins",
                          "postgresql.so")
    missing = [what for what, ok in (
        ("a PostgreSQL server (/usr/lib/postgresql/*/bin/initdb)",
         glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        ("psql", shutil.which("psql")), ("the postgresql plugin", os.path.exists(plugin)))
        if not ok]
    if missing:
        log(f"10. PostgreSQL: skipped, missing {', '.join(missing)}")
        return None
    state = os.path.join(bench.workdir, "postgres")
    subprocess.run(["bash", server_script, "start", state], check=True, capture_output=True)
    try:
        with open(os.path.join(state, "url")) as text:
            url = text.read().strip()

        def postgres_config(namespace):
            return (f"storage:\n  plugin: postgresql\n  url: \"{url}\"\n"
                    f"  namespace: {namespace}\n")

        batch = []
        samples = mode.batch_samples
        for rep in range(mode.reps):
            copy = postgres_copy_rows_per_second(url, samples, MAIN_SERVICES,
                                                 f"public.copy_reference_{rep}")
            server = bench.start_driftwatch(2, postgres_config(f"bench_batch_{rep}"))
            dw = bench.run_json([os.path.join(bench.bin, "batch_ingest"), "--url", server.url,
                                 "--samples", str(samples), "--services", str(MAIN_SERVICES)])
            bench.stop(server)
            batch.append({"copy_rows_per_second": copy, "driftwatch": dw,
                          "ratio": dw["samples_per_second"] / copy})
            log(f"  postgresql batch rep {rep + 1}: driftwatch {dw['samples_per_second']:.0f}/s, "
                f"raw COPY {copy:.0f}/s ({batch[-1]['ratio']:.0%})")

        sqlite = bench.start_driftwatch(2)
        postgres = bench.start_driftwatch(2, postgres_config("bench_single"))
        targets = [("sqlite", sqlite), ("postgresql", postgres)]
        for _, server in targets:
            bench.wrk(server, 32, mode.warmup_seconds, MAIN_SERVICES)
        runs = {"sqlite": [], "postgresql": []}
        for rep in range(mode.reps):
            for name, server in (targets if rep % 2 == 0 else targets[::-1]):
                runs[name].append(bench.wrk(server, 32, mode.wrk_seconds, MAIN_SERVICES))
            log(f"  postgresql single rep {rep + 1}: sqlite "
                f"{runs['sqlite'][-1]['requests_per_second']:.0f}/s, postgresql "
                f"{runs['postgresql'][-1]['requests_per_second']:.0f}/s")
        for _, server in targets:
            bench.stop(server)
        ratios = [p["requests_per_second"] / q["requests_per_second"]
                  for p, q in zip(runs["postgresql"], runs["sqlite"])]
        return {"samples": samples, "services": MAIN_SERVICES, "batch": batch,
                "batch_ratio_median": median([b["ratio"] for b in batch]),
                "single": runs, "single_ratios": ratios, "single_ratio_median": median(ratios)}
    finally:
        subprocess.run(["bash", server_script, "stop", state], capture_output=True)


def otlp_block(bench, threads, services, samples):
    """Section 11: the same rows as 512-sample batches and as 512-span OTLP protobuf requests,
    each on a fresh service, interleaved."""
    reps = []
    for rep in range(bench.mode.reps):
        entry = {}
        for fmt in ("json", "otlp"):
            server = bench.start_driftwatch(threads)
            entry[fmt] = bench.run_json([os.path.join(bench.bin, "batch_ingest"), "--url",
                                         server.url, "--samples", str(samples), "--services",
                                         str(services), "--batch", "512", "--format", fmt])
            bench.stop(server)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(server.db + suffix):
                    os.remove(server.db + suffix)
        entry["ratio"] = entry["otlp"]["samples_per_second"] / entry["json"]["samples_per_second"]
        reps.append(entry)
        log(f"  otlp rep {rep + 1}: {entry['otlp']['samples_per_second']:.0f} spans/s, batch "
            f"{entry['json']['samples_per_second']:.0f} samples/s ({entry['ratio']:.0%})")
    return reps


# ---- 4: micro-benchmarks --------------------------------------------------------------------------


def core_benchmarks(bench, name=None):
    """core_bench's medians, every benchmark or only the one called name."""
    out = os.path.join(bench.workdir, "core_bench.json")
    argv = [os.path.join(bench.bin, "core_bench"), f"--benchmark_repetitions="
            f"{bench.mode.core_repetitions}", "--benchmark_report_aggregates_only=true",
            f"--benchmark_out={out}", "--benchmark_out_format=json"]
    if name:
        argv.append(f"--benchmark_filter=^{name}$")
    if bench.mode.quick:
        argv.append("--benchmark_min_time=0.1")
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    with open(out) as data:
        report = json.load(data)
    results = {}
    for entry in report["benchmarks"]:
        if entry.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6}[entry["time_unit"]]
        results[entry["run_name"]] = {"real_ns": entry["real_time"] * scale,
                                      "cpu_ns": entry["cpu_time"] * scale}
    return results


# ---- 8: replay ---------------------------------------------------------------------------------


def replay_benchmark(bench):
    """`driftwatch replay` of the whole NAB corpus with the default pipeline, 5 times (or 1):
    wall time and the time in the pipeline (ServiceMonitor and detectors), from its --json
    summary. None when the corpus is not at hand."""
    data = os.path.join(NAB_DIR, "data")
    if not os.path.isdir(data):
        log(f"8. replay: no NAB corpus at {NAB_DIR} (DRIFTWATCH_NAB_DIR); skipped")
        return None
    runs = []
    for _ in range(1 if bench.mode.quick else 5):
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run([os.path.join(bench.bin, "driftwatch"), "replay", "--json",
                               "--skip-bad", data], check=True, capture_output=True, text=True,
                              timeout=300)
        wall = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        summary = json.loads(done.stdout.strip().splitlines()[-1])["summary"]
        runs.append({"process_seconds": wall, "process_cpu_seconds": cpu,
                     "seconds": summary["seconds"],
                     "pipeline_seconds": summary["pipeline_seconds"],
                     "samples": summary["samples"], "files": summary["files"]})
    return {"nab_dir": NAB_DIR, "runs": runs}


# ---- 5: memory --------------------------------------------------------------------------------------


def memory_benchmarks(bench):
    # What a window costs depends on the values (core/window_record.h): measured for each kind a client
    # may send. `measured` (what a client that reads a clock and counts bytes sends) is the headline.
    results = {"engine": []}
    for values in MEMORY_VALUE_KINDS:
        for services in bench.mode.memory_services:
            run = bench.run_json([os.path.join(bench.bin, "memory_bench"), "--services",
                                  str(services), "--values", values])
            results["engine"].append(run)
            log(f"  memory {services} services, {values} values: "
                f"{run['bytes_per_service'] / 1024:.1f} KB/service RSS, "
                f"{run['heap_bytes_per_service'] / 1024:.1f} KB heap")
    # The same with a 100-sample window: the difference is what the window itself costs.
    results["small_window"] = bench.run_json([os.path.join(bench.bin, "memory_bench"),
                                              "--services", "10000", "--window", "100",
                                              "--values", "measured"])
    return results


# ---- the report -------------------------------------------------------------------------------------


def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_kb / 1024 / 1024,
        "kernel": platform.release(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "wrk": wrk_version[0].split(" [")[0] if wrk_version else "wrk",
    }


def fmt_rate(value):
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def fmt_list(values, formatter):
    return ", ".join(formatter(v) for v in values)


def verdict(met):
    return "**met**" if met else "**missed**"


def render(results, mode, command):
    m = results["machine"]
    lines = []
    add = lines.append
    add("# Performance")
    add("")
    add("<!-- Generated by bench/run.sh (bench/run_bench.py): edit those, not this file. -->")
    add("")
    add(f"Measured {m['date']} with `{command}` ({mode.name} mode: every figure is the median "
        f"of {mode.reps} run{'s' if mode.reps > 1 else ''}, and every comparison is against a "
        f"reference measured in the same run, interleaved with it).")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("| --- | --- |")
    add(f"| CPU | {m['cpu']}, `nproc` = {m['nproc']} |")
    add(f"| memory | {m['memory_gib']:.1f} GiB |")
    add(f"| kernel | Linux {m['kernel']} |")
    add(f"| build | Release (`-O3 -DNDEBUG`), commit {m['commit']} |")
    add(f"| load generator | {m['wrk']}, on the same {m['nproc']} cores as the server (loopback) |")
    add(f"| load average (1, 5, 15 min) | before: {results['load_before']}; after: "
        f"{results['load_after']} |")
    add(f"| run time | {results['seconds'] / 60:.1f} min |")
    add("")
    add("The machine is shared: other work ran during the measurements (see the load average), "
        "and the load generator shares the server's cores. Absolute figures move by 10-30 % "
        "from run to run; the ratios against the same-run references move less, and server CPU "
        "per request least. MB is 10^6 bytes; KB is 1024 bytes.")
    add("")

    # ---- summary
    main_ingest = [r for r in results["ingest"] if r["threads"] == 2 and
                   r["services"] == MAIN_SERVICES]
    main_batch = results["batch"][0]
    main_latency = next(l for l in results["latency"] if l["threads"] == 2 and
                        l["services"] == MAIN_SERVICES)
    drift_p99_ms = median([r["drift_detected"]["p99_us"] for r in main_latency["reps"]]) / 1000
    established_p99_ms = median([r["baseline_established"]["p99_us"]
                                 for r in main_latency["reps"]]) / 1000
    core = results["core"]
    # CPU time: on a shared machine the wall time also counts the moments the thread was preempted.
    refresh_us = core["BM_BaselineCompute/window:1000/payload:1"]["cpu_ns"] / 1000
    idle_mb = median(results["idle_rss"]) / 1e6
    engine_mem = results["memory"]["engine"]
    per_service_kb = {(r["values"], r["services"]): r["bytes_per_service"] / 1024
                      for r in engine_mem}
    disk = main_batch["reps"][-1]["disk_driftwatch"]
    telemetry_mb_per_10k = (disk["objects"]["telemetry_blocks"]["bytes"] / disk["telemetry_rows"]
                            * 1e4 / 1e6)
    file_mb_per_10k = disk["file_bytes"] / disk["telemetry_rows"] * 1e4 / 1e6

    add("## Summary")
    add("")
    add("| # | figure | target | measured | |")
    add("| --- | --- | --- | --- | --- |")
    for r in main_ingest:
        add(f"| 1 | single-sample ingest, {r['connections']} connections: DriftWatch / bare "
            f"Pistache, req/s | >= 90 % | {r['ratio_median']:.0%} "
            f"({fmt_rate(median([x['requests_per_second'] for x in r['driftwatch']]))} vs "
            f"{fmt_rate(median([x['requests_per_second'] for x in r['bare']]))} req/s; runs: "
            f"{fmt_list(r['ratios'], lambda v: f'{v:.0%}')}) | "
            f"{verdict(r['ratio_median'] >= TARGET_INGEST_RATIO)} |")
        dw_cpu = median([x["server_cpu_us_per_request"] for x in r["driftwatch"]])
        bare_cpu = median([x["server_cpu_us_per_request"] for x in r["bare"]])
        add(f"| 1 | same, server CPU per request, bare / DriftWatch (the req/s ratio if the "
            f"server had the CPU to itself; much steadier) | >= 90 % | {bare_cpu / dw_cpu:.0%} "
            f"({dw_cpu:.0f} vs {bare_cpu:.0f} us) | "
            f"{verdict(bare_cpu / dw_cpu >= TARGET_INGEST_RATIO)} |")
    for b in results["batch"]:
        add(f"| 2 | batch ingest, HTTP -> committed in SQLite / raw SQLite inserts, "
            f"{b['services']:,} service{'s' if b['services'] > 1 else ''}, {b['threads']} HTTP "
            f"thread{'s' if b['threads'] > 1 else ''} | >= 60 % | {b['ratio_median']:.0%} "
            f"({fmt_rate(median([x['driftwatch']['samples_per_second'] for x in b['reps']]))} vs "
            f"{fmt_rate(median([x['raw']['rows_per_second'] for x in b['reps']]))} samples/s) | "
            f"{verdict(b['ratio_median'] >= TARGET_BATCH_RATIO)} |")
    add(f"| 3 | detection latency p99 (202 -> DRIFT_DETECTED visible) at half the maximum load | "
        f"<= 5 ms | {drift_p99_ms:.2f} ms | {verdict(drift_p99_ms <= TARGET_DETECTION_P99_MS)} |")
    add(f"| 4 | baseline refresh, full 1000-sample window (CPU time) | <= 20 us | {refresh_us:.1f} us | "
        f"{verdict(refresh_us <= TARGET_REFRESH_US)} |")
    add(f"| 5 | RSS of the idle service | <= 20 MB | {idle_mb:.1f} MB | "
        f"{verdict(idle_mb <= TARGET_IDLE_RSS_MB)} |")
    for (values, services), kb in per_service_kb.items():
        add(f"| 5 | RSS per monitored service with a full window, {services:,} services, values: "
            f"{values} | <= 16 KB | {kb:.1f} KB | {verdict(kb <= TARGET_PER_SERVICE_KB)} |")
    add(f"| 6 | disk per 10,000 stored samples (telemetry_blocks table) | <= 0.4 MB | "
        f"{telemetry_mb_per_10k:.3f} MB | {verdict(telemetry_mb_per_10k <= TARGET_DISK_MB_PER_10K)} |")
    add(f"| 6 | same, whole database file ({main_batch['samples'] // main_batch['services']:,} "
        f"samples per service) | <= 0.4 MB | {file_mb_per_10k:.3f} MB | "
        f"{verdict(file_mb_per_10k <= TARGET_DISK_MB_PER_10K)} |")
    for row in summary_rows_8(results) + summary_rows_9_10(results):
        add(row)
    if results.get("otlp"):
        ratio = median([r["ratio"] for r in results["otlp"]])
        add(f"| 11 | OTLP ingest, 512-span protobuf requests: spans/s / batch samples/s, same "
            f"samples | >= 70 % | {ratio:.0%} | {verdict(ratio >= 0.7)} |")
    add("")

    # ---- 1
    add("## 1. Single-sample ingest")
    add("")
    add(f"`POST /v1/telemetry`, one sample per request, {m['wrk']} with 2 threads and keep-alive "
        f"connections on loopback for {mode.wrk_seconds} s per run (after a 1 s warm-up), "
        f"cycling over distinct service ids (`bench/wrk/ingest.lua`). The reference is "
        f"`bench/bare_pistache.cc`: Pistache 0.0.5 with the same threads and socket options, "
        f"parsing the body with the API's own `api/json_codec` and answering the same 202 JSON, "
        f"and nothing else. Server CPU per request is the server process's user + system time "
        f"over the run divided by the requests answered.")
    add("")
    add("| HTTP threads | connections | services | DriftWatch req/s | bare req/s | DriftWatch / bare "
        "| p50 / p99 latency DriftWatch | p50 / p99 bare | server CPU per request DriftWatch / bare |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results["ingest"]:
        dw, bare = r["driftwatch"], r["bare"]
        add(f"| {r['threads']} | {r['connections']} | {r['services']:,} | "
            f"{fmt_rate(median([x['requests_per_second'] for x in dw]))} | "
            f"{fmt_rate(median([x['requests_per_second'] for x in bare]))} | "
            f"**{r['ratio_median']:.0%}** ({fmt_list(r['ratios'], lambda v: f'{v:.0%}')}) | "
            f"{median([x['p50_us'] for x in dw]) / 1000:.2f} / {median([x['p99_us'] for x in dw]) / 1000:.2f} ms | "
            f"{median([x['p50_us'] for x in bare]) / 1000:.2f} / {median([x['p99_us'] for x in bare]) / 1000:.2f} ms | "
            f"{median([x['server_cpu_us_per_request'] for x in dw]):.0f} / "
            f"{median([x['server_cpu_us_per_request'] for x in bare]):.0f} us |")
    add("")
    add("The ratio column gives the median of the per-run ratios, then each run's ratio.")
    add("")

    # ---- 2
    add("## 2. Batch ingest")
    add("")
    add("`bench/batch_ingest.cc` sends `POST /v1/telemetry/batch` bodies of 1000 samples (built "
        "before the clock starts, each sample with its RFC 3339 timestamp) over 2 keep-alive "
        "connections to a fresh service with a fresh database, and stops the clock when "
        "`GET /v1/system/status` shows every sample processed and none waiting for the storage "
        "writer (`storage_pending_samples` counts samples not yet in a successful commit): that "
        "is the moment the last sample is committed in SQLite. `total_telemetry_records` is "
        "refreshed by the service once a second, so it is checked (it always reached the count) "
        "but not used as the clock. The reference, `bench/raw_sqlite.cc`, inserts the same rows "
        "into the same table with the same PRAGMAs (WAL, `synchronous = NORMAL`) through one "
        "prepared statement, 1000 rows per transaction, in the same run.")
    add("")
    add("| HTTP threads | services | samples | DriftWatch samples/s | raw SQLite rows/s | "
        "DriftWatch / raw | 503 retries | RSS after |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for b in results["batch"]:
        reps = b["reps"]
        add(f"| {b['threads']} | {b['services']:,} | {b['samples']:,} | "
            f"{fmt_rate(median([x['driftwatch']['samples_per_second'] for x in reps]))} | "
            f"{fmt_rate(median([x['raw']['rows_per_second'] for x in reps]))} | "
            f"**{b['ratio_median']:.0%}** ({fmt_list([x['ratio'] for x in reps], lambda v: f'{v:.0%}')}) | "
            f"{median([x['driftwatch']['retries_503'] for x in reps]):.0f} | "
            f"{median([x['driftwatch']['rss_after_bytes'] for x in reps]) / 1e6:.0f} MB |")
    add("")

    # ---- 3
    add("## 3. Detection latency")
    add("")
    add("`bench/detection_latency.cc`, while wrk holds a paced background load of half the "
        "maximum measured in section 1 for the same configuration (32 connections, the wrk "
        "script's `delay()` keeps a fixed schedule). Each probe is a new service: 99 samples in a "
        "batch, then the 100th alone, timed from its 202 until `GET /v1/health` (polled back to "
        "back on another connection) says STABLE; then 4 severe samples, and once they are "
        "processed the 5th alone, timed from its 202 until the health says DRIFT_DETECTED. "
        f"{mode.probes} probes per run.")
    add("")
    add("| HTTP threads | services (background) | background load | DriftWatch -> DRIFT_DETECTED "
        "p50 / p99 / max | baseline established p50 / p99 / max |")
    add("| --- | --- | --- | --- | --- |")
    for l in results["latency"]:
        reps = l["reps"]
        d = lambda key, q: median([x[key][q] for x in reps]) / 1000
        add(f"| {l['threads']} | {l['services']:,} | "
            f"{fmt_rate(median([x['background_requests_per_second'] for x in reps]))} req/s "
            f"(max {fmt_rate(l['max_rate'])}) | "
            f"{d('drift_detected', 'p50_us'):.2f} / **{d('drift_detected', 'p99_us'):.2f}** / "
            f"{d('drift_detected', 'max_us'):.2f} ms | "
            f"{d('baseline_established', 'p50_us'):.2f} / {d('baseline_established', 'p99_us'):.2f} / "
            f"{d('baseline_established', 'max_us'):.2f} ms |")
    add("")

    # ---- 4
    add("## 4. Baseline refresh and per-sample CPU")
    add("")
    add(f"Google Benchmark (`bench/core_bench.cc`), median of {mode.core_repetitions} "
        "repetitions. CPU time is the figure: the wall time also counts the moments the thread "
        "was preempted by other work on this shared machine. The refresh is "
        "`BaselineWindow::Compute` on a full window of samples N(150, 25) ms with payloads "
        "(mean, sample standard deviation, p50/p95/p99 by partial selection, payload mean and "
        "standard deviation), cycling through 64 different windows: timing one window over and "
        "over lets the branch predictor learn `nth_element`'s path through it, which makes the "
        "refresh look about 4 times cheaper than on a window that changed since the last refresh. "
        "`ServiceMonitor::Process` runs a STABLE service with a full window through the bundled "
        "detector plugins (loaded from their .so files), a refresh every 50 samples included.")
    add("")
    add("| benchmark | CPU time | wall time | |")
    add("| --- | --- | --- | --- |")
    labels = {
        "BM_BaselineCompute/window:1000/payload:1": "refresh (Compute), 1000 samples with payload",
        "BM_BaselineCompute/window:1000/payload:0": "refresh (Compute), 1000 samples, no payload",
        "BM_BaselineCompute/window:100/payload:1": "refresh (Compute), 100 samples",
        "BM_BaselineCompute/window:10000/payload:1": "refresh (Compute), 10,000 samples",
        "BM_BaselineRefresh/window:1000": "refresh as ServiceMonitor does it (age eviction + Compute)",
        "BM_ServiceMonitorProcess": "ServiceMonitor::Process, per sample",
        "BM_ParseSampleBody": "api::ParseSampleBody, one sample",
        "BM_ParseBatchBody": "api::ParseBatchBody, 1000-sample batch (per batch)",
    }
    for name, label in labels.items():
        if name not in core:
            continue
        value = core[name]
        unit, scale = ("us", 1000) if value["cpu_ns"] >= 10_000 else ("ns", 1)
        note = ""
        if name == "BM_BaselineCompute/window:1000/payload:1":
            note = f"target <= 20 us: {verdict(value['cpu_ns'] / 1000 <= TARGET_REFRESH_US)}"
        add(f"| {label} | {value['cpu_ns'] / scale:.1f} {unit} | {value['real_ns'] / scale:.1f} "
            f"{unit} | {note} |")
    add("")
    add("Debian's libbenchmark prints \"Library was built as DEBUG\": that is the benchmark "
        "library's own build, not the code measured (built Release).")
    add("")

    # ---- 5
    small = results["memory"]["small_window"]
    big = next(r for r in engine_mem if r["services"] == 10_000 and r["values"] == "measured")
    per_window_sample = (big["heap_bytes_per_service"] - small["heap_bytes_per_service"]) / (
        big["window"] - small["window"])
    fixed_heap = big["heap_bytes_per_service"] - per_window_sample * big["window"]
    add("## 5. Memory")
    add("")
    add(f"Idle: the `driftwatch` process's VmRSS 1 s after start-up with an empty database "
        f"(median of {len(results['idle_rss'])} starts): **{idle_mb:.1f} MB** (target <= 20 MB).")
    add("")
    add("Per service: `bench/memory_bench.cc` drives the real `Engine` in process, with the "
        "bundled detector plugins and a storage backend that keeps nothing (so the figure is the "
        "engine's own state, not a store's copy of the samples), sending every service 1020 "
        "samples N(150, 25) ms with payloads N(2.45, 0.76) KB, 100 ms apart, round-robin: every "
        "window is full (checked: `window_samples` = 1000 for every service) and every service "
        "STABLE. The window stores each sample in the cheapest exact form its values allow "
        "(`core/window_record.h`), so the figure depends on what clients send: "
        + "; ".join(f"`{k}`: {v}" for k, v in MEMORY_VALUE_LABELS.items()) +
        ". RSS is VmRSS; heap is what malloc has handed out and not had back (`mallinfo2`), "
        "which leaves out fragmentation and page rounding.")
    add("")
    add("| values | services | RSS per service | RSS per service after `malloc_trim` "
        "| live heap per service | engine samples/s while filling |")
    add("| --- | --- | --- | --- | --- | --- |")
    for r in engine_mem:
        add(f"| {r['values']} | {r['services']:,} | **{r['bytes_per_service'] / 1024:.1f} KB** | "
            f"{r['bytes_per_service_trimmed'] / 1024:.1f} KB | "
            f"{r['heap_bytes_per_service'] / 1024:.1f} KB | "
            f"{fmt_rate(r['engine_samples_per_second'])} |")
    add("")
    add(f"Where it goes (`measured` values): the same 10,000 services with a 100-sample window take "
        f"{small['heap_bytes_per_service'] / 1024:.1f} KB of heap each, so each window sample "
        f"costs {per_window_sample:.1f} bytes of heap and everything else a service owns (its "
        f"`ServiceEntry`, map node and id, baseline, detector states, last transition) about "
        f"{fixed_heap / 1024:.1f} KB.")
    add("")

    # ---- 6
    raw_disk = main_batch["reps"][-1]["disk_raw"]
    add("## 6. Disk")
    add("")
    add(f"The database of the last section-2 run at {main_batch['services']} services and "
        f"{main_batch['samples']:,} samples, after a graceful stop (WAL checkpointed), measured "
        f"with SQLite's `dbstat` (`raw_sqlite disk`):")
    add("")
    add("| | bytes | per 10,000 samples |")
    add("| --- | --- | --- |")
    rows = disk["telemetry_rows"]
    for name, entry in sorted(disk["objects"].items(), key=lambda kv: -kv[1]["bytes"]):
        add(f"| DriftWatch `{name}` | {entry['bytes']:,} | {entry['bytes'] / rows * 1e4 / 1e6:.3f} MB |")
    add(f"| DriftWatch whole file | {disk['file_bytes']:,} | **{file_mb_per_10k:.3f} MB** |")
    add(f"| raw SQLite reference, whole file (telemetry only) | {raw_disk['file_bytes']:,} | "
        f"{raw_disk['file_bytes'] / raw_disk['telemetry_rows'] * 1e4 / 1e6:.3f} MB |")
    add("")
    telemetry = disk["objects"]["telemetry_blocks"]
    snapshots = disk["objects"].get("snapshots", {"bytes": 0})
    listed = sum(entry["bytes"] for entry in disk["objects"].values())
    add(f"A row of `telemetry_blocks` is a block of one service's consecutive samples, filled "
        f"across commits up to 960 bytes (schema.sql): "
        f"{telemetry['payload'] / rows:.1f} bytes of record per sample (a timestamp delta and "
        f"two doubles, a payload bit, and the row's key and header shared by its samples), and "
        f"pages are {telemetry['payload'] / telemetry['bytes']:.0%} full, hence "
        f"{telemetry['bytes'] / rows:.1f} bytes per sample. The snapshots table holds one "
        f"snapshot per service, {snapshots['bytes'] / main_batch['services'] / 1024:.1f} KB each "
        f"(the full window is most of it): a fixed cost per service, not per sample, so the "
        f"whole-file figure approaches the telemetry figure as samples per service grow. The "
        f"rest of the file, {(disk['file_bytes'] - listed) / 1e6:.1f} MB, is free pages: "
        f"mostly those `telemetry_log` used while the samples waited for their blocks, which "
        f"later writes reuse.")
    add("")

    # ---- 7
    add("## 7. Scaling")
    add("")
    if not results["scaling"]:
        add("Not measured in quick mode: run `bench/run.sh` without `--quick`.")
        add("")
    else:
        add("Sections 1-3 above already list every configuration measured; side by side (medians):")
        add("")
        add("| HTTP threads | services | single-sample req/s (vs bare) | batch samples/s (vs raw) "
            "| detection p99 |")
        add("| --- | --- | --- | --- | --- |")
        keys = sorted({(r["threads"], r["services"]) for r in results["ingest"] if
                       r["connections"] == 32} |
                      {(b["threads"], b["services"]) for b in results["batch"]})
        for threads, services in keys:
            ingest = next((r for r in results["ingest"] if r["threads"] == threads and
                           r["services"] == services and r["connections"] == 32), None)
            batch = next((b for b in results["batch"] if b["threads"] == threads and
                          b["services"] == services), None)
            lat = next((l for l in results["latency"] if l["threads"] == threads and
                        l["services"] == services), None)
            ingest_text = (f"{fmt_rate(median([x['requests_per_second'] for x in ingest['driftwatch']]))} "
                           f"({ingest['ratio_median']:.0%})" if ingest else "-")
            batch_text = (f"{fmt_rate(median([x['driftwatch']['samples_per_second'] for x in batch['reps']]))} "
                          f"({batch['ratio_median']:.0%})" if batch else "-")
            lat_text = (f"{median([x['drift_detected']['p99_us'] for x in lat['reps']]) / 1000:.2f} ms"
                        if lat else "-")
            add(f"| {threads} | {services:,} | {ingest_text} | {batch_text} | {lat_text} |")
        add("")
        add("Memory grows linearly with services (section 5: about the same per-service figure "
            "at 10,000 and 100,000). For the single-sample and latency runs, the 10,000 services "
            f"were first given a baseline ({ROWS_PER_SERVICE_FOR_STABLE} samples each, by batch), "
            "so the measured traffic is scored like the rest.")
        add("")

    for line in replay_section(results):
        add(line)
    if results.get("metrics"):
        for line in metrics_section(results["metrics"], results.get("metrics_http")):
            add(line)
    if "postgresql" in results:
        for line in postgres_section(results["postgresql"]):
            add(line)
    if results.get("otlp"):
        for line in otlp_section(results["otlp"]):
            add(line)

    # ---- analysis
    add("## What limits each figure")
    add("")
    analysis = os.path.join(REPO, "bench", "analysis.md")
    with open(analysis) as text:
        add(text.read().strip())
    add("")
    add("## Reproducing")
    add("")
    add("```")
    add("bench/run.sh            # Release build in build-bench/, every benchmark (~15 min)")
    add("bench/run.sh --quick    # one run of each, smaller sizes, no scaling matrix (~2 min)")
    add("bench/run.sh --build-dir DIR --output FILE")
    add("bench/run.sh --only metrics,postgresql --output FILE   # sections 9 and 10 alone (~6 min)")
    add("bench/run.sh --only replay --output FILE   # section 8 alone, with its core_bench reference (~10 s)")
    add("```")
    add("")
    add("Section 8 replays the NAB corpus from `DRIFTWATCH_NAB_DIR` (default `../shared/nab` "
        "beside the repository; it is not in the repository) and is skipped without it.")
    add("")
    add("Requires wrk (Debian package `wrk`), curl and the project's build dependencies (Google "
        "Benchmark for `core_bench`); section 10 also needs Debian's `postgresql` (server and "
        "`psql`) and is skipped without it. The raw results are written as JSON next to the build "
        "(`<build-dir>/bench-results.json`; with `--only`, `bench-results-only.json`). Benchmarks "
        "are never run by ctest.")
    add("")
    return "\n".join(lines)


def summary_rows_8(results):
    """The summary table's rows for section 8 (replay), from what was measured."""
    replay = results.get("replay")
    if not replay:
        return []
    runs = replay["runs"]
    wall = median([r["process_seconds"] for r in runs])
    per_sample_ns = 1e9 * median([r["seconds"] for r in runs]) / runs[0]["samples"]
    rows = [f"| 8 | `driftwatch replay` of the whole NAB corpus, default pipeline (process wall "
            f"time) | < 2 s | {wall:.2f} s | {verdict(wall < TARGET_REPLAY_NAB_SECONDS)} |"]
    process_ns = results.get("core", {}).get("BM_ServiceMonitorProcess", {}).get("cpu_ns")
    if process_ns:
        ratio = process_ns / per_sample_ns
        rows.append(f"| 8 | replay throughput / `ServiceMonitor::Process` throughput (core_bench, "
                    f"same run), CSV reading included | >= 80 % | {ratio:.0%} ({per_sample_ns:.0f} "
                    f"vs {process_ns:.0f} ns per sample) | {verdict(ratio >= TARGET_REPLAY_RATIO)} |")
    return rows


def replay_section(results):
    """Section 8 of the report: replay of the NAB corpus."""
    lines = ["## 8. Replay", ""]
    if not results.get("replay"):
        return lines + ["Not measured: the NAB corpus was not at hand (`DRIFTWATCH_NAB_DIR`, "
                        "default `../shared/nab` beside the repository).", ""]
    runs = results["replay"]["runs"]
    samples = runs[0]["samples"]
    lines.append(
        f"`driftwatch replay --json --skip-bad <nab>/data`: the whole Numenta Anomaly Benchmark "
        f"corpus ({runs[0]['files']} files, {samples:,} samples) through the default pipeline, "
        f"one thread, median of {len(runs)} run{'s' if len(runs) > 1 else ''}. The pipeline time "
        "is the part spent in `ServiceMonitor::Process` and the detector plugins (the rest is "
        "reading and parsing the CSV files); the same code as the service's, so its cost per "
        "sample compares with core_bench's `BM_ServiceMonitorProcess` (section 4; it runs a "
        "STABLE service with a full window on every sample: NAB's series spend part of their "
        "samples in INSUFFICIENT_DATA and DRIFT_DETECTED, which cost less).")
    lines += ["", "| | wall time (process) | replay total | in the pipeline | per sample, total | "
              "per sample, pipeline |", "| --- | --- | --- | --- | --- | --- |"]
    wall = median([r["process_seconds"] for r in runs])
    total = median([r["seconds"] for r in runs])
    pipeline = median([r["pipeline_seconds"] for r in runs])
    lines += [f"| NAB, default pipeline | {wall:.3f} s | {total:.3f} s | {pipeline:.3f} s | "
              f"{1e9 * total / samples:.0f} ns | {1e9 * pipeline / samples:.0f} ns |", ""]
    each_wall = ", ".join(f"{r['process_seconds']:.2f}" for r in runs)
    each_total = ", ".join(f"{1e9 * r['seconds'] / samples:.0f}" for r in runs)
    lines += [f"Each run: wall time {each_wall} s; replay total per sample {each_total} ns.", ""]
    if "process_cpu_seconds" in runs[0]:
        cpu = median([r["process_cpu_seconds"] for r in runs])
        lines += [f"The replay process's CPU time (user + system, median): {cpu:.3f} s, "
                  f"{1e9 * cpu / samples:.0f} ns per sample (wall time also counts the moments "
                  "it waited for a core on this shared machine; the reference is CPU time).", ""]
    process_ns = results.get("core", {}).get("BM_ServiceMonitorProcess", {}).get("cpu_ns")
    if process_ns:
        lines += [f"`BM_ServiceMonitorProcess`, same run: {process_ns:.0f} ns per sample (CPU "
                  "time, median of its repetitions).", ""]
    return lines


def summary_rows_9_10(results):
    """The summary table's rows for sections 9 and 10, from what was measured."""
    rows = []
    runs = results.get("metrics") or []
    if runs:
        cpu = max(r["scrape_cpu_seconds_median"] for r in runs)
        rows.append(f"| 9 | one GET /metrics scrape at {runs[0]['services']:,} services, in "
                    f"process (collect and render, no HTTP), CPU (worst run's median) | <= 1 s | "
                    f"{cpu:.3f} s | {verdict(cpu <= TARGET_SCRAPE_CPU_SECONDS)} |")
        alone = (results.get("metrics_http") or {}).get("scrapes_alone")
        if alone:
            http_cpu = median([a["server_cpu_seconds"] for a in alone])
            rows.append(f"| 9 | same over HTTP (curl): the server's CPU for the whole GET, median of "
                        f"{len(alone)} | <= 1 s | {http_cpu:.2f} s | "
                        f"{verdict(http_cpu <= TARGET_SCRAPE_CPU_SECONDS)} |")
        if "longest_registry_hold_cpu_us" in runs[0]:
            rows.append("| 9 | holds of a shard's state lock by a scrape (ingest's lock) | <= 1 ms | "
                        "none: a scrape reads the figures each shard publishes | **met** |")
            hold_cpu = max(max(r["longest_registry_hold_cpu_us"],
                               r["longest_registry_hold_cpu_during_ingest_us"]) for r in runs)
            hold_wall = max(max(r["longest_registry_hold_us"],
                                r["longest_registry_hold_during_ingest_us"]) for r in runs)
            p999 = max(max(r["p999_registry_hold_us"], r["p999_registry_hold_during_ingest_us"])
                       for r in runs)
            rows.append(f"| 9 | longest single hold of the registry's lock (shared) by a scrape, "
                        f"CPU time of the holder | <= 1 ms | {hold_cpu:.0f} us | "
                        f"{verdict(hold_cpu <= TARGET_LOCK_HOLD_US)} |")
            rows.append(f"| 9 | the same, wall time (preemption of the holder included) | <= 1 ms "
                        f"| {hold_wall / 1000:.1f} ms | {verdict(hold_wall <= TARGET_LOCK_HOLD_US)}"
                        f" |")
            rows.append(f"| 9 | the same, 99.9th percentile of the holds (worst run) | | "
                        f"{p999:.0f} us | |")
    http = results.get("metrics_http")
    if http:
        rows.append(f"| 9 | single-sample ingest over HTTP at {http['services']:,} services, with a "
                    f"scrape every second / without | >= 90 % | {http['ratio_median']:.0%} (runs: "
                    f"{fmt_list(http['ratios'], lambda v: f'{v:.0%}')}) | "
                    f"{verdict(http['ratio_median'] >= TARGET_INGEST_RATIO)} |")
    pg = results.get("postgresql")
    if pg:
        rows.append(f"| 10 | batch ingest, HTTP -> committed in PostgreSQL / raw COPY through libpq,"
                    f" {pg['services']} services | >= 50 % | {pg['batch_ratio_median']:.0%} | "
                    f"{verdict(pg['batch_ratio_median'] >= TARGET_POSTGRES_BATCH_RATIO)} |")
        rows.append(f"| 10 | single-sample ingest, 32 connections: DriftWatch on PostgreSQL / on "
                    f"SQLite, req/s | >= 90 % | {pg['single_ratio_median']:.0%} (runs: "
                    f"{fmt_list(pg['single_ratios'], lambda v: f'{v:.0%}')}) | "
                    f"{verdict(pg['single_ratio_median'] >= TARGET_INGEST_RATIO)} |")
    return rows


def otlp_section(reps):
    """Section 11 from otlp_block's runs."""
    ratios = [r["ratio"] for r in reps]
    otlp = median([r["otlp"]["samples_per_second"] for r in reps])
    batch = median([r["json"]["samples_per_second"] for r in reps])
    return [
        "## 11. OTLP ingest",
        "",
        f"`bench/batch_ingest.cc` sends the same {reps[0]['json']['samples']:,} rows "
        f"({reps[0]['json']['services']} services) as `POST /v1/telemetry/batch` bodies of 512 "
        "samples and, to another fresh service, as `POST /v1/traces` OTLP protobuf requests of "
        "512 SERVER spans (one ResourceSpans per service, as an SDK or Collector groups them); "
        "each is timed until the last sample is committed. Interleaved, "
        f"{len(reps)} run{'s' if len(reps) > 1 else ''}.",
        "",
        "| figure | target | measured | |",
        "| --- | --- | --- | --- |",
        f"| OTLP spans/s / batch samples/s, same samples, same run | >= 70 % | "
        f"{median(ratios):.0%} ({otlp / 1e3:.1f}k vs {batch / 1e3:.1f}k/s; runs: "
        f"{fmt_list(ratios, lambda v: f'{v:.0%}')}) | {verdict(median(ratios) >= 0.7)} |",
        "",
    ]


def metrics_section(runs, http):
    """Section 9 from metrics_scrape's runs (bench/metrics_scrape.cc) and metrics_http."""
    services = runs[0]["services"]
    cpu = [r["scrape_cpu_seconds_median"] for r in runs]
    per_hold = [r["collect_us_per_256_services"] for r in runs]
    ratio = [r["ingest_ratio"] for r in runs]
    lines = [
        f"## 9. GET /metrics at {services:,} services",
        "",
        "`bench/metrics_scrape.cc`, in process (no HTTP): every service STABLE with a baseline and "
        "`metrics.per_service_limit` above the service count, so every per-service series is "
        f"written ({runs[0]['scrape_bytes'] / 1e6:.0f} MB of text). {len(runs)} runs. A scrape "
        "takes no shard state lock (the lock processing takes exclusively): it reads each series' "
        "figures as its shard last published them (core/series_figures.h). The one lock it holds "
        "is the registry's, shared, while it lists the series a few dozen at a time (the first "
        "sample of a new service and a DELETE take it exclusively). Each hold of it is timed by "
        "the engine itself when the benchmark asks for it (`LockHoldTimes`, core/engine.h: two "
        "clock reads around each hold, in scrapes only): in wall time, which also counts the "
        "moments the scraping thread was preempted while holding the lock (other work shares "
        "these 2 cores), and in the scraping thread's CPU time, which is the work done under the "
        "lock. The scrapes timed are the 5 alone and those made every second during the ingest "
        "run below.",
        "",
        "| figure | target | measured (each run) | |",
        "| --- | --- | --- | --- |",
        f"| CPU of one whole scrape, median of 5 per run | <= 1 s | "
        f"{fmt_list(cpu, lambda v: f'{v:.3f} s')} | {verdict(max(cpu) <= 1.0)} |",
    ]
    if "longest_registry_hold_cpu_us" in runs[0]:
        hold_cpu = [max(r["longest_registry_hold_cpu_us"],
                        r["longest_registry_hold_cpu_during_ingest_us"]) for r in runs]
        hold_wall = [max(r["longest_registry_hold_us"], r["longest_registry_hold_during_ingest_us"])
                     for r in runs]
        holds = [r["registry_holds"] + r["registry_holds_during_ingest"] for r in runs]
        over = [r["registry_holds_over_1ms"] + r["registry_holds_over_1ms_during_ingest"]
                for r in runs]
        p999 = [max(r["p999_registry_hold_us"], r["p999_registry_hold_during_ingest_us"])
                for r in runs]
        rereads = [r["figure_rereads"] + r["figure_rereads_during_ingest"] for r in runs]
        restarts = [r["listing_restarts"] + r["listing_restarts_during_ingest"] for r in runs]
        lines += [
            "| holds of a shard's state lock by a scrape | <= 1 ms | none (no run takes one: the "
            "figures are read as each shard published them) | **met** |",
            f"| longest single hold of the registry's lock (shared), CPU time of the holder | "
            f"<= 1 ms | {fmt_list(hold_cpu, lambda v: f'{v:.0f} us')} | "
            f"{verdict(max(hold_cpu) <= TARGET_LOCK_HOLD_US)} |",
            f"| longest single hold of the registry's lock, wall time (preemption included) | "
            f"<= 1 ms | {fmt_list(hold_wall, lambda v: f'{v:.0f} us')} | "
            f"{verdict(max(hold_wall) <= TARGET_LOCK_HOLD_US)} |",
            f"| 99.9th percentile of those holds, wall time (the higher of alone and during "
            f"ingest) | | {fmt_list(p999, lambda v: f'{v:.0f} us')} | |",
            f"| holds of the registry's lock over 1 ms of wall time, of those timed | | "
            f"{fmt_list(list(zip(over, holds)), lambda v: f'{v[0]} of {v[1]:,}')} | |",
            f"| figures read again because their shard published meanwhile; listings started "
            f"over | | {fmt_list(list(zip(rereads, restarts)), lambda v: f'{v[0]:,}; {v[1]}')} | |",
        ]
    lines += [
        f"| CollectServiceMetrics per 256 services, wall time (the whole listing and copy) | | "
        f"{fmt_list(per_hold, lambda v: f'{v:.0f} us')} | |",
        f"| single-sample ingest (in process, one thread) with a scrape every second / without "
        f"| >= 90 % | {fmt_list(ratio, lambda v: f'{v:.0%}')} | {verdict(median(ratio) >= 0.9)} |",
    ]
    if "longest_scrape_during_ingest_ms" in runs[0]:
        lines += [
            f"| longest scrape during that ingest (copy, then text on the low-priority render "
            f"thread), wall time | | "
            f"{fmt_list([r['longest_scrape_during_ingest_ms'] for r in runs], lambda v: f'{v:.0f} ms')}"
            f" | |",
        ]
    lines += [
        "",
    ]
    if http:
        wo = [r["requests_per_second"] for r in http["without"]]
        w = [r["requests_per_second"] for r in http["with"]]
        scrape_s = http["scrape_seconds"]
        lines += [
            f"Over HTTP: one DriftWatch (2 HTTP threads) with {http['services']:,} services, each "
            "with a baseline (25 samples each by batch first; a 20-sample window and "
            f"`metrics.per_service_limit: {http['services'] + 1}`), and wrk's single-sample "
            f"ingest (32 connections, cycling over all {http['services']:,} services) in "
            f"{len(wo)} runs without scrapes and {len(w)} with `curl` fetching `/metrics` every "
            "second, alternating which goes first. curl, wrk and DriftWatch share the 2 cores, "
            "so the scrape's client takes CPU from the server too.",
            "",
            "| | without scrapes | with a scrape every second | with / without |",
            "| --- | --- | --- | --- |",
            f"| req/s (median) | {fmt_rate(median(wo))} | {fmt_rate(median(w))} | "
            f"**{http['ratio_median']:.0%}** ({fmt_list(http['ratios'], lambda v: f'{v:.0%}')}) |",
            f"| wrk's p99 latency (median of the runs) | "
            f"{median([r['p99_us'] for r in http['without']]) / 1000:.1f} ms | "
            f"{median([r['p99_us'] for r in http['with']]) / 1000:.1f} ms | |",
            f"| server CPU per request | "
            f"{median([r['server_cpu_us_per_request'] for r in http['without']]):.0f} us | "
            f"{median([r['server_cpu_us_per_request'] for r in http['with']]):.0f} us | |",
            f"| scrapes, wall time median / max | | "
            f"{median(scrape_s):.2f} / {max(scrape_s) if scrape_s else float('nan'):.2f} s "
            f"({len(scrape_s)} scrapes, "
            f"{median(http['scrape_bytes']) / 1e6 if http['scrape_bytes'] else 0:.0f} MB each) | |",
        ]
        if http.get("scrapes_alone"):
            alone = http["scrapes_alone"]
            lines += [
                f"| a scrape with nothing else running: server CPU (the whole GET, rendering and "
                f"sending), wall time | | "
                f"{fmt_list([a['server_cpu_seconds'] for a in alone], lambda v: f'{v:.2f} s')}; "
                f"{fmt_list([a['seconds'] for a in alone], lambda v: f'{v:.2f} s')} | |",
            ]
        lines += [""]
    lines += [
        "prometheus-cpp for the same series: see \"What limits each figure\", section 7.",
        "",
    ]
    return lines


def postgres_section(pg):
    """Section 10 from postgres_block."""
    lines = ["## 10. PostgreSQL store", ""]
    if not pg:
        return lines + ["Not measured: no PostgreSQL server, psql or postgresql plugin at hand "
                        "(Debian's `postgresql`; scripts/install-deps.sh).", ""]
    copy = [b["copy_rows_per_second"] for b in pg["batch"]]
    dw = [b["driftwatch"]["samples_per_second"] for b in pg["batch"]]
    sq = [r["requests_per_second"] for r in pg["single"]["sqlite"]]
    po = [r["requests_per_second"] for r in pg["single"]["postgresql"]]
    lines += [
        "A throwaway PostgreSQL server on loopback, started by tests/postgres/postgres_server.sh "
        "(as the tests start theirs: small buffers, `synchronous_commit = off`, so a commit "
        "waits for no disk flush, as SQLite's `synchronous = NORMAL` in WAL mode does not "
        "either), on the same 2 cores as DriftWatch and the load generator: the server's CPU "
        "is not in DriftWatch's process but is taken from it.",
        "",
        f"Batch ingest: `bench/batch_ingest.cc` as in section 2 ({pg['samples']:,} samples, "
        f"{pg['services']} services, HTTP -> committed) into DriftWatch with "
        "`storage.plugin: postgresql` (a fresh namespace each run), against a raw "
        "`COPY ... FROM STDIN` of the same number of rows of the same shape through libpq "
        "(psql), into a table like the plugin's samples table, 1000 rows per transaction, "
        "interleaved.",
        "",
        "| DriftWatch samples/s | raw COPY rows/s | DriftWatch / COPY | |",
        "| --- | --- | --- | --- |",
        f"| {fmt_rate(median(dw))} | {fmt_rate(median(copy))} | **{pg['batch_ratio_median']:.0%}**"
        f" ({fmt_list([b['ratio'] for b in pg['batch']], lambda v: f'{v:.0%}')}) | target >= 50 %:"
        f" {verdict(pg['batch_ratio_median'] >= TARGET_POSTGRES_BATCH_RATIO)} |",
        "",
        f"Single-sample ingest: wrk as in section 1 (32 connections, {MAIN_SERVICES} services) "
        "against two DriftWatch services started together, one on SQLite and one on PostgreSQL, "
        "runs alternating which goes first.",
        "",
        "| on SQLite req/s | on PostgreSQL req/s | PostgreSQL / SQLite | server CPU per request "
        "SQLite / PostgreSQL (DriftWatch's process only) | |",
        "| --- | --- | --- | --- | --- |",
        f"| {fmt_rate(median(sq))} | {fmt_rate(median(po))} | **{pg['single_ratio_median']:.0%}** "
        f"({fmt_list(pg['single_ratios'], lambda v: f'{v:.0%}')}) | "
        f"{median([r['server_cpu_us_per_request'] for r in pg['single']['sqlite']]):.0f} / "
        f"{median([r['server_cpu_us_per_request'] for r in pg['single']['postgresql']]):.0f} us | "
        f"target >= 90 %: {verdict(pg['single_ratio_median'] >= TARGET_INGEST_RATIO)} |",
        "",
    ]
    return lines


def run_metrics(bench, results):
    quick = bench.mode.quick
    services = 10_000 if quick else 100_000
    log("9. GET /metrics, in process")
    scrape = [os.path.join(bench.bin, "metrics_scrape"), "--services", str(services), "--seconds",
              "5"]
    results["metrics"] = [bench.run_json(scrape) for _ in range(1 if quick else 3)]
    log("9. GET /metrics, single-sample ingest over HTTP with and without scrapes")
    results["metrics_http"] = metrics_http(bench, services)


def rename_seed_values(results):
    # Results saved before memory_bench's `seed` values were renamed `measured`.
    memory = results.get("memory", {})
    for run in memory.get("engine", []) + [memory.get("small_window", {})]:
        if run.get("values") == "seed":
            run["values"] = "measured"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--output", default=os.path.join(REPO, "docs", "performance.md"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--command", default="bench/run.sh")
    parser.add_argument("--from-json", help="re-render the report from a saved results file")
    parser.add_argument("--only", help="run only these sections (comma-separated: replay, "
                        "metrics, postgresql) and write just their part of the report")
    args = parser.parse_args()
    mode = Mode(args.quick)
    command = args.command + (" --quick" if args.quick else "")
    if args.from_json:
        with open(args.from_json) as saved:
            results = json.load(saved)
        rename_seed_values(results)
        mode = Mode(results["mode"] == "quick")
        with open(args.output, "w") as out:
            out.write(render(results, mode, args.command + (" --quick" if mode.quick else "")))
        return

    workdir = os.path.join(os.path.abspath(args.build_dir), "bench-work")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    bench = Bench(os.path.abspath(args.build_dir), mode, workdir)
    started = time.monotonic()
    results = {"machine": machine_info(), "mode": mode.name, "load_before": load_average(),
               "scaling": mode.scaling}
    log(f"{mode.name} mode; load average {results['load_before']} on {os.cpu_count()} cores")
    if os.getloadavg()[0] > os.cpu_count():
        log("warning: the machine is busy; the figures will be noisier (the report records the "
            "load average)")
    if args.only:
        sections = args.only.split(",")
        unknown = set(sections) - {"replay", "metrics", "postgresql"}
        if unknown:
            parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))} (replay, "
                         "metrics, postgresql)")
        try:
            if "replay" in sections:
                log("4. micro-benchmarks: BM_ServiceMonitorProcess, section 8's reference")
                results["core"] = core_benchmarks(bench, "BM_ServiceMonitorProcess")
                log("8. replay")
                results["replay"] = replay_benchmark(bench)
            if "metrics" in sections:
                run_metrics(bench, results)
            if "postgresql" in sections:
                log("10. PostgreSQL")
                results["postgresql"] = postgres_block(bench)
        finally:
            bench.stop_all()
        with open(os.path.join(args.build_dir, "bench-results-only.json"), "w") as out:
            json.dump(results, out, indent=1)
        lines = [f"Measured {results['machine']['date']} with `{command} --only {args.only}`, "
                 f"load average before {results['load_before']}, after {load_average()}.", ""]
        lines += summary_rows_8(results) + summary_rows_9_10(results) + [""]
        if "replay" in results:
            lines += replay_section(results)
        if results.get("metrics"):
            lines += metrics_section(results["metrics"], results.get("metrics_http"))
        if "postgresql" in results:
            lines += postgres_section(results["postgresql"])
        with open(args.output, "w") as out:
            out.write("\n".join(lines))
        log(f"wrote {args.output} in {(time.monotonic() - started) / 60:.1f} min")
        return
    try:
        log("1+3. single-sample ingest and detection latency")
        services = [1, MAIN_SERVICES, 10_000] if mode.scaling else [MAIN_SERVICES]
        ingest, latency = ingest_block(bench, 2, 32, services, latency=True)
        more, _ = ingest_block(bench, 2, 128, [MAIN_SERVICES], latency=False)
        ingest += more
        if mode.scaling:
            more, more_latency = ingest_block(bench, 1, 32, [MAIN_SERVICES], latency=True)
            ingest += more
            latency += more_latency
        results["ingest"] = ingest
        results["latency"] = latency

        log("2+6. batch ingest and disk")
        results["batch"] = [batch_block(bench, 2, MAIN_SERVICES, mode.batch_samples, True)]
        if mode.scaling:
            results["batch"].append(batch_block(bench, 2, 1, mode.batch_samples, False))
            results["batch"].append(batch_block(bench, 2, 10_000,
                                                10_000 * ROWS_PER_SERVICE_FOR_STABLE, False))
            results["batch"].append(batch_block(bench, 1, MAIN_SERVICES, mode.batch_samples,
                                                False))

        log("11. OTLP ingest")
        results["otlp"] = otlp_block(bench, 2, MAIN_SERVICES, mode.batch_samples)

        log("4. micro-benchmarks")
        results["core"] = core_benchmarks(bench)
        log("5. memory")
        results["memory"] = memory_benchmarks(bench)
        log("8. replay")
        results["replay"] = replay_benchmark(bench)
        results["idle_rss"] = bench.idle_rss
        run_metrics(bench, results)
        log("10. PostgreSQL")
        results["postgresql"] = postgres_block(bench)
    finally:
        bench.stop_all()
    results["load_after"] = load_average()
    results["seconds"] = time.monotonic() - started

    with open(os.path.join(args.build_dir, "bench-results.json"), "w") as out:
        json.dump(results, out, indent=1)
    with open(args.output, "w") as out:
        out.write(render(results, mode, command))
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"wrote {args.output} in {results['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
