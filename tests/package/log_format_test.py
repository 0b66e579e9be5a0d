#!/usr/bin/env python3
"""log_format_test.py DRIFTWATCH: the service's log lines through the real binary
(docs/operations.md, Logs).

- Text to journald (stderr is the stream JOURNAL_STREAM names, as systemd sets it): every line
  starts with a syslog level, "<6>" for the one-line banner, "<3>" for an error; stdout stays
  empty.
- --log-format json: every line on stderr is one JSON object with time, level, source and
  message; nothing goes to stdout.
- Text on anything else (a pipe, a terminal) keeps the framed banner on stdout.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1]


def run_service(work, args, journal):
    """Starts the service with stdout and stderr in files; returns (process, out, err paths)."""
    out_path = os.path.join(work, "out.log")
    err_path = os.path.join(work, "err.log")
    out = open(out_path, "wb")
    err = open(err_path, "wb")
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFY_SOCKET", None)
    if journal:
        status = os.fstat(err.fileno())
        env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
    process = subprocess.Popen([BINARY, "--db", os.path.join(work, "dw.db")] + args,
                               stdout=out, stderr=err, env=env, cwd=work)
    out.close()
    err.close()
    return process, out_path, err_path


def read(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def wait_for(path, pattern, process):
    deadline = time.time() + 30
    while time.time() < deadline:
        match = re.search(pattern, read(path))
        if match:
            return match
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {read(path)}")
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in {read(path)!r}")


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, process.returncode


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def journal_text(work):
    process, out, err = run_service(work, ["--port", "0"], journal=True)
    wait_for(err, r"<6>driftwatch: DriftWatch \S+ is ready: database connected: .*; "
                  r"API listening on http://[^:]+:(\d+)\n", process)
    stop(process)
    lines = read(err).splitlines()
    check(read(out) == "", f"stdout is not empty: {read(out)!r}")
    check(len(lines) >= 3, lines)
    for line in lines:
        check(re.match(r"<[3-6]>driftwatch: ", line), f"no level prefix: {line!r}")
    check(lines[-1] == "<6>driftwatch: stopped", lines)
    # An error at start-up: level 3, exit code 1.
    process, out, err = run_service(work, ["--config", "/nonexistent/driftwatch.yaml"], True)
    check(process.wait(timeout=30) == 1, process.returncode)
    check(re.fullmatch(r"<3>driftwatch: .*nonexistent.*\n", read(err)), read(err))


def json_lines(work):
    process, out, err = run_service(work, ["--port", "0", "--log-format", "json"], journal=False)
    match = wait_for(err, r"API listening on http://[^:]+:(\d+)", process)
    port = int(match.group(1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
        check(answer.status == 200, answer.status)
    stop(process)
    check(read(out) == "", f"stdout is not empty: {read(out)!r}")
    records = [json.loads(line) for line in read(err).splitlines()]
    for record in records:
        check(set(record) == {"time", "level", "source", "message"}, record)
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record)
        check(record["source"] == "driftwatch", record)
    check(records[0]["level"] == "info" and "is ready" in records[0]["message"], records)
    check(records[-1] == dict(records[-1], level="info", message="stopped"), records)
    process, out, err = run_service(work, ["--log-format", "json", "--config", "/nonexistent.yaml"],
                                    journal=False)
    check(process.wait(timeout=30) == 1, process.returncode)
    record = json.loads(read(err))
    check(record["level"] == "error" and "nonexistent" in record["message"], record)
    # A wrong value is a usage error.
    usage = subprocess.run([BINARY, "--log-format", "xml"], capture_output=True, text=True)
    check(usage.returncode == 2 and "text or json" in usage.stderr, usage)


def plain_text(work):
    process, out, err = run_service(work, ["--port", "0"], journal=False)
    wait_for(out, r"✓ API listening on http://[^:]+:\d+\n=+\n", process)
    stop(process)
    check(read(out).startswith("=" * 60 + "\nDriftWatch - Statistical Drift Detection Platform\n"),
          read(out))
    check(read(out).endswith("✓ DriftWatch stopped\n"), read(out))
    check(read(err) == "", f"stderr is not empty: {read(err)!r}")


for test in (journal_text, json_lines, plain_text):
    with tempfile.TemporaryDirectory() as work:
        test(work)
    print(f"log_format_test: {test.__name__} passed")
