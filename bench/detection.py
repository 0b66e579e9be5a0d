#!/usr/bin/env python3
"""Writes docs/detection.md: NAB scores of the default and opt-in pipelines through
`driftwatch replay --labels`, with parameters chosen in-sample and out-of-fold, beside NAB's
published scoreboard; and the synthetic suite of bench/detection_quality. Run by
bench/detection.sh (which builds first); see that file for the options."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PROFILES = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
COSTS = {"standard": (1.0, 1.0), "reward_low_FP_rate": (1.0, 1.0),
         "reward_low_FN_rate": (1.0, 2.0)}  # (tpWeight, fnWeight) for normalising

# Baseline options that let detectors work on NAB's slow series (docs/detection.md explains).
OPEN_BASELINE = {"window_hours": 1000000, "freeze_in_drift": False}
RULES = ["zscore_severe", "moderate_window"]
# The recommended opt-in pipeline (docs/detectors.md): the best standard score of RECOMMENDED_GRID
# on the whole corpus. The grid keeps cusum's k <= 1.1 because a larger k misses the x1.5 creep
# (k 1.2 caught it in 81-93 % of runs with h 20-24, under the 95 % target), a choice made on the
# synthetic suite, not on NAB.
RECOMMENDED_PARAMS = {"cusum": {"k": 1.1, "h": 24}, "ewma": {"lambda": 0.5, "limit": 9}}
RECOMMENDED = "+ cusum (k 1.1, h 24) + ewma (lambda 0.5, limit 9), open baseline (recommended)"
RECOMMENDED_GRID = [{"cusum": {"k": k, "h": h}, "ewma": {"lambda": lam, "limit": limit}}
                    for k in (0.9, 1, 1.1) for h in (16, 20, 24, 28)
                    for lam in (0.1, 0.2, 0.3, 0.5) for limit in (6, 7, 8, 9)]
RECOMMENDED_QUICK_GRID = [{"cusum": {"k": k, "h": h}, "ewma": {"lambda": lam, "limit": limit}}
                          for k in (1, 1.1) for h in (16, 24)
                          for lam in (0.3, 0.5) for limit in (8, 9)]


def open_pipeline(detectors):
    """The open baseline, the default rules and the given opt-in detectors, as YAML."""
    return yaml_of(OPEN_BASELINE, RULES + list(detectors), detectors)


def setting_text(detectors):
    """"cusum k 1.1, h 24; ewma lambda 0.5, limit 9" (or without the names for one detector)."""
    parts = [(name, ", ".join(f"{k} {v}" for k, v in params.items()))
             for name, params in detectors.items()]
    if len(parts) == 1:
        return parts[0][1]
    return "; ".join(f"{name} {text}" for name, text in parts)


def yaml_of(baseline, triggers, detectors):
    lines = []
    if baseline:
        lines.append("baseline:")
        for key, value in baseline.items():
            lines.append(f"  {key}: {str(value).lower() if isinstance(value, bool) else value}")
    if triggers:
        lines.append("pipeline:")
        lines.append(f"  triggers: [{', '.join(triggers)}]")
    if detectors:
        lines.append("detectors:")
        for name, params in detectors.items():
            inner = ", ".join(f"{k}: {v}" for k, v in params.items())
            lines.append(f"  {name}: {{{inner}}}")
    return "\n".join(lines) + "\n"


class Replayer:
    def __init__(self, binary, nab_dir, scratch, jobs):
        self.binary = binary
        self.labels = os.path.join(nab_dir, "labels", "combined_windows.json")
        self.data = os.path.join(nab_dir, "data")
        self.scratch = scratch
        self.jobs = jobs
        self.runs = 0
        self.lock = threading.Lock()

    def run_many(self, config_texts):
        """run() of each config, `jobs` replays at a time (for grids: their wall times are not
        reported, since parallel runs slow each other)."""
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            return list(pool.map(self.run, config_texts))

    def run(self, config_text):
        """The replay's JSON summary ("nab" included) and its wall time."""
        args = [self.binary, "replay", "--json", "--skip-bad", "--labels", self.labels]
        if config_text:
            with self.lock:
                self.runs += 1
                number = self.runs
            path = os.path.join(self.scratch, f"config-{number}.yaml")
            with open(path, "w") as f:
                f.write(config_text)
            args += ["--config", path]
        args.append(self.data)
        start = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, check=True)
        seconds = time.monotonic() - start
        summary = json.loads(done.stdout.strip().splitlines()[-1])["summary"]
        return summary, seconds


def fold_score(summary, files, profile):
    """NAB's normalised score over a subset of the files."""
    tp, fn = COSTS[profile]
    raw = sum(f["raw_scores"][profile] for f in summary["nab"]["files"] if f["file"] in files)
    windows = sum(f["windows"] for f in summary["nab"]["files"] if f["file"] in files)
    null = -fn * windows
    perfect = tp * windows
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def cross_validate(replayer, family, grid):
    """Parameters chosen on odd-numbered files and scored on even ones, and vice versa; the
    out-of-fold score pools both halves' raw scores. Returns (best in-sample, out-of-fold, the
    parameters chosen per fold)."""
    runs = replayer.run_many([family(params) for params in grid])
    results = [(params, summary) for params, (summary, _) in zip(grid, runs)]
    files = sorted(f["file"] for f in results[0][1]["nab"]["files"])
    odd = set(files[0::2])  # the 1st, 3rd, ... file
    even = set(files[1::2])
    out = {}
    chosen = {}
    for profile in PROFILES:
        in_sample = max(results, key=lambda r: r[1]["nab"]["scores"][profile])
        pooled_raw = 0.0
        picks = []
        for train, test in ((odd, even), (even, odd)):
            best = max(results, key=lambda r: fold_score(r[1], train, profile))
            picks.append(best[0])
            pooled_raw += sum(f["raw_scores"][profile] for f in best[1]["nab"]["files"]
                              if f["file"] in test)
        tp, fn = COSTS[profile]
        windows = sum(f["windows"] for f in results[0][1]["nab"]["files"])
        null = -fn * windows
        out[profile] = (in_sample[1]["nab"]["scores"][profile], in_sample[0],
                        100.0 * (pooled_raw - null) / (tp * windows - null))
        chosen[profile] = picks
    return out, chosen


def grid_text(grid):
    """"cusum k in 0.9, 1, 1.1; ..." for a grid of {detector: {param: value}}."""
    values = {}
    for setting in grid:
        for detector, params in setting.items():
            for key, value in params.items():
                values.setdefault((detector, key), [])
                if value not in values[(detector, key)]:
                    values[(detector, key)].append(value)
    return "; ".join(f"{detector} `{key}` in {{{', '.join(str(v) for v in vs)}}}"
                     for (detector, key), vs in values.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--nab", required=True, help="NAB's directory: data/, labels/, ...")
    parser.add_argument("--output", required=True)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a smaller grid and 20 seeds")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="replays at a time while cross-validating")
    args = parser.parse_args()
    binary = os.path.join(args.build_dir, "bin", "driftwatch")
    quality = os.path.join(args.build_dir, "bin", "detection_quality")
    seeds = 20 if args.quick else args.seeds

    with open(os.path.join(args.nab, "final_results.json")) as f:
        published = json.load(f)

    with tempfile.TemporaryDirectory() as scratch:
        replayer = Replayer(binary, args.nab, scratch, args.jobs)
        print("NAB: the default pipeline", file=sys.stderr)
        default, default_seconds = replayer.run("")
        # (NAB row, synthetic column, config): every pipeline appears in both tables.
        pipelines = [
            ("default rules, open baseline", None, yaml_of(OPEN_BASELINE, [], {})),
            (RECOMMENDED, "+ cusum (1.1, 24) + ewma (0.5, 9) (recommended)",
             open_pipeline(RECOMMENDED_PARAMS)),
            ("+ cusum (k 1.1, h 24) + ewma (lambda 0.3, limit 8), open baseline",
             "+ cusum (1.1, 24) + ewma (0.3, 8)",
             open_pipeline({"cusum": {"k": 1.1, "h": 24}, "ewma": {"lambda": 0.3, "limit": 8}})),
            ("+ cusum (k 1.2, h 20) + ewma (lambda 0.3, limit 8), open baseline",
             "+ cusum (1.2, 20) + ewma (0.3, 8)",
             open_pipeline({"cusum": {"k": 1.2, "h": 20}, "ewma": {"lambda": 0.3, "limit": 8}})),
            ("+ cusum (k 1, h 16), open baseline", "+ cusum (1, 16)",
             open_pipeline({"cusum": {"k": 1, "h": 16}})),
            ("+ cusum (k 1.25, h 16), open baseline", "+ cusum (1.25, 16)",
             open_pipeline({"cusum": {"k": 1.25, "h": 16}})),
            ("+ cusum (k 2, h 8), open baseline", "+ cusum (2, 8)",
             open_pipeline({"cusum": {"k": 2, "h": 8}})),
            ("+ ewma (lambda 0.05, limit 5), open baseline", "+ ewma (0.05, 5)",
             yaml_of(OPEN_BASELINE, RULES + ["ewma"], {})),
            ("+ ewma (lambda 0.1, limit 8), open baseline", "+ ewma (0.1, 8)",
             open_pipeline({"ewma": {"lambda": 0.1, "limit": 8}})),
            ("+ median_z (window 30, threshold 2), open baseline", "+ median_z (30, 2)",
             yaml_of(OPEN_BASELINE, RULES + ["median_z"], {})),
            ("+ cusum (k 1, h 16), default baseline", None,
             yaml_of({}, RULES + ["cusum"], {"cusum": {"k": 1, "h": 16}})),
        ]
        fixed_results = {}
        for name, _, text in pipelines:
            print(f"NAB: {name}", file=sys.stderr)
            fixed_results[name] = replayer.run(text)

        ks = [0.5, 1, 1.5] if args.quick else [0.5, 0.75, 1, 1.5, 2]
        hs = [8, 16, 32] if args.quick else [4, 8, 12, 16, 24, 32, 48]
        cusum_grid = [{"cusum": {"k": k, "h": h}} for k in ks for h in hs]
        lambdas = [0.02, 0.05, 0.1] if args.quick else [0.02, 0.05, 0.1, 0.2]
        limits = [3, 5] if args.quick else [3, 4, 5, 6, 8]
        ewma_grid = [{"ewma": {"lambda": l, "limit": m}} for l in lambdas for m in limits]
        recommended_grid = RECOMMENDED_QUICK_GRID if args.quick else RECOMMENDED_GRID
        cross_validated = []
        for name, grid in (("cusum", cusum_grid), ("ewma", ewma_grid),
                           ("cusum + ewma (recommended)", recommended_grid)):
            print(f"NAB: cross-validating {name} over {len(grid)} settings", file=sys.stderr)
            cv, chosen = cross_validate(replayer, open_pipeline, grid)
            cross_validated.append((name, len(grid), cv, chosen))

        # The synthetic suite with the same pipelines.
        synthetic_configs = {"default": ""}
        synthetic_configs.update({column: text for _, column, text in pipelines if column})
        quality_args = [quality, "--seeds", str(seeds)]
        for i, (name, text) in enumerate(synthetic_configs.items()):
            if not text:
                quality_args.append(f"{name}=default")
                continue
            path = os.path.join(scratch, f"synthetic-{i}.yaml")
            with open(path, "w") as f:
                f.write(text)
            quality_args.append(f"{name}={path}")
        print("synthetic suite", file=sys.stderr)
        synthetic = subprocess.run(quality_args, capture_output=True, text=True,
                                   check=True).stdout

    command = "bench/detection.sh" + (" --quick" if args.quick else "")
    out = []
    out.append("# Detection quality\n")
    out.append(f"Generated by `{command}` (NAB read from `{args.nab}`; "
               f"{time.strftime('%Y-%m-%d', time.gmtime())}). Do not edit by hand: rerun it.\n")
    out.append("Every NAB figure is a run of `driftwatch replay --json --skip-bad --labels "
               "<nab>/labels/combined_windows.json <nab>/data` with the config shown, which is "
               "what the service itself would have detected ([replay.md](replay.md)); scores are "
               "NAB's (0 = no detection, 100 = perfect). `--skip-bad`: "
               "`artificialWithAnomaly/art_daily_flatmiddle.csv` has negative values, which the "
               "API refuses as latencies; those rows are skipped and still count as rows for "
               "scoring. \"Open baseline\" is `baseline: {window_hours: 1000000, "
               "freeze_in_drift: false}` ([detectors.md](detectors.md#what-limits-quality)).\n")
    out.append("## NAB, fixed parameters\n")
    out.append("| pipeline | standard | reward_low_FP_rate | reward_low_FN_rate | windows hit "
               "| detections outside windows | replay wall time (process) |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")

    def row(name, summary, seconds):
        nab = summary["nab"]
        scores = " | ".join(f"{nab['scores'][p]:.1f}" for p in PROFILES)
        out.append(f"| {name} | {scores} | {nab['detected_windows']} of {nab['windows']} "
                   f"| {nab['detections_outside_windows']} | {seconds:.2f} s |")

    row("default (zero config)", default, default_seconds)
    print(f"NAB, default pipeline: {default['nab']['scores']}", file=sys.stderr)
    for name, (summary, seconds) in fixed_results.items():
        row(name, summary, seconds)
    out.append("")
    out.append("The recommended pipeline is the best standard score of its grid on the whole "
               "corpus (below), among settings that catch the x1.5 creep. The k 1.2 and k 1.25 "
               "rows score higher on NAB but miss that creep in more than 5 % of runs (synthetic "
               "suite below).")
    out.append("")
    out.append("## NAB, parameters chosen on the corpus: in-sample and out-of-fold\n")
    out.append("In-sample: the best setting of the grid, scored on the files it was chosen on "
               "(as NAB's own scoreboard tunes each detector's threshold on the whole corpus). "
               "Out-of-fold: the setting is chosen on the odd-numbered files (in label order) and "
               "scored on the even ones, and vice versa; the two halves' raw scores are pooled "
               "and normalised.\n")
    out.append("The recommended pipeline's four parameters (cusum's `k` and `h`, ewma's `lambda` "
               "and `limit`) are all chosen per fold, from a grid that keeps `k` <= 1.1 (a larger "
               "`k` misses the x1.5 creep of the synthetic suite; see the rows with k 1.2 and "
               "1.25): "
               + grid_text(recommended_grid) + ".\n")
    out.append("| opt-in detectors (default rules, open baseline) | settings tried | profile "
               "| in-sample | setting | out-of-fold | settings chosen (odd; even) |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for name, size, cv, chosen in cross_validated:
        for profile in PROFILES:
            best, params, oof = cv[profile]
            picks = " / ".join(setting_text(p) for p in chosen[profile])
            out.append(f"| {name} | {size} | {profile} | {best:.1f} | {setting_text(params)} "
                       f"| {oof:.1f} | {picks} |")
    out.append("")
    out.append("## NAB's published scoreboard (`final_results.json`)\n")
    out.append("| detector | standard | reward_low_FP_rate | reward_low_FN_rate |")
    out.append("| --- | --- | --- | --- |")
    for name, scores in sorted(published.items(), key=lambda kv: -kv[1]["standard"]):
        out.append(f"| {name} | " + " | ".join(f"{scores[p]:.1f}" for p in PROFILES) + " |")
    out.append("")
    out.append("## Synthetic suite (`bench/detection_quality`)\n")
    out.append("Pipelines as above with the open baseline (the synthetic series are sampled at "
               "10/s, so `window_hours` does not matter there).\n")
    out.append(synthetic)
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
