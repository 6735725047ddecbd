#!/usr/bin/env python3
"""Speed of `prparser report` beside DuckDB, on generated PR-PORTS logs of every shape.

Usage (from the repository root):
    python3 benches/report_vs_duckdb.py [--shapes plain,mixed,...] [--sizes 1M,10M] [--runs 3]

For each shape (a `prparser generate --shape` preset) and size, the script generates the
logs once under target/bench-data/shapes/ (kept for re-runs, made again when the binary or
the command changes), then runs, alternately and RUNS times each:
  - `prparser report --format json` on the PORTS log (the release build, made first unless
    --no-build), the full report: wall time and peak RSS of the process;
  - the same with `--skip beaconing --skip changes`: the statistics alone, like for like
    with DuckDB's five group-bys (the two investigation views cost more than the statistics);
  - DuckDB (pip package `duckdb`, installed if missing), in a child Python process: read_csv
    of the same file with the options the shape needs, then the same five row-count views
    (local TCP port usage, process usage, remote IP usage, user context usage, port usage by
    hour) on 2 threads: wall time from connecting to the last result (Python's start and
    `import duckdb` are not counted), peak RSS of the child (Python's ~30 MiB included).
Each process is started from a bare Python interpreter that times it and reads its peak RSS
(Linux counts in a child's peak the size of the process it was forked from, and this script
holds DuckDB and the reports: 35-60 MiB, more than the statistics-only report's own peak).
Before a ratio is printed, DuckDB's row count and every group of every view (key and count)
must equal prparser's JSON report, and the statistics-only report must equal the full one
without its `beaconing` and `changes` keys; if not, the script stops with the difference.
Prints the medians as a Markdown table for README (both reports' times, peak RSS and ratio to
DuckDB), with the commit, date, machine and load.

DuckDB's options per shape:
  - quoted names: quote='"', escape='"' (RFC 4180; fields spanning lines too);
  - 9-field rows (mixed, nine-field): null_padding=true (the missing user context is NULL);
    with quoted line breaks this needs parallel=false, which no preset combines;
  - utf16: encoding='utf-16' (the byte-order mark is taken);
  - cp1252: encoding='latin-1'. DuckDB 2.0's latin-1 refuses the bytes 0x80-0x9F, where
    Windows-1252 has letters Latin-1 lacks (its `encodings` extension cannot be installed
    offline), so the generator keeps PORTS names within Latin-1's letters;
  - win2000: the 7-field layout (no PID, module or user columns);
  - malformed: every column read as text, rows kept only where each field reads as
    prparser reads it (a date and time on the calendar, TCP/UDP, ports within 0..65535, IP
    addresses, a numeric PID); the header is skipped as 4 lines in every shape.
The sniffer is off (auto_detect=false): with 9-field rows it cannot find the dialect.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "prparser")
DATA = os.path.join(ROOT, "target", "bench-data", "shapes")
PORTS = "PR-PORTS-08-06-30-0-0-0.log"

# DuckDB's read_csv options per shape (see the module docs).
SHAPES = {
    "plain": {},
    "mixed": {"null_padding": True},
    "quoted": {},
    "ipv6": {},
    "lf": {},
    "utf16": {"encoding": "utf-16"},
    "cp1252": {"encoding": "latin-1"},
    "win2000": {"fields": 7},
    "v1.0": {},
    "nine-field": {"null_padding": True},
    "malformed": {"null_padding": True, "validate": True},
}

COLUMNS = [
    ("date", "VARCHAR"),
    ("time", "VARCHAR"),
    ("protocol", "VARCHAR"),
    ("local_port", "INTEGER"),
    ("local_ip", "VARCHAR"),
    ("remote_port", "VARCHAR"),
    ("remote_ip", "VARCHAR"),
    ("pid", "BIGINT"),
    ("module", "VARCHAR"),
    ("user_context", "VARCHAR"),
]

IPV4 = r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"


def is_ip(col):
    return f"regexp_full_match({col}, '{IPV4}|{IPV6}')"


# A row prparser reads: every field as its reader takes it (for the malformed shape).
VALID_ROW = f"""
    try_strptime(date || ' ' || time, '%y/%m/%d %H:%M:%S') IS NOT NULL
    AND protocol IN ('TCP', 'UDP')
    AND try_cast(local_port AS USMALLINT) IS NOT NULL
    AND {is_ip('local_ip')}
    AND (remote_port IS NULL OR remote_port = '*' OR try_cast(remote_port AS USMALLINT) IS NOT NULL)
    AND (remote_ip = '*' OR {is_ip('remote_ip')})
    AND (pid IS NULL OR try_cast(pid AS UINTEGER) IS NOT NULL)
"""

VIEWS = {
    "local_tcp_port_usage": "SELECT local_port, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE protocol='TCP' GROUP BY 1",
    "process_usage": "SELECT module, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE module IS NOT NULL AND module <> '' GROUP BY 1",
    "remote_ip_usage": "SELECT remote_ip, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE remote_ip IS NOT NULL AND remote_ip NOT IN ('*', '0.0.0.0', '::') GROUP BY 1",
    "user_context_usage": "SELECT trim(user_context, '<>') u, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE user_context IS NOT NULL AND trim(user_context, '<>') <> '' GROUP BY 1",
    "port_usage_by_hour": "SELECT CAST(split_part(time, ':', 1) AS INTEGER) h, count(*) FROM t GROUP BY 1",
}

# The column each view groups by.
VIEW_COLUMN = {
    "local_tcp_port_usage": "local_port",
    "process_usage": "module",
    "remote_ip_usage": "remote_ip",
    "user_context_usage": "user_context",
    "port_usage_by_hour": "time",
}

# The key of each view's entries in prparser's JSON report.
OUR_KEYS = {
    "local_tcp_port_usage": "port",
    "process_usage": "process",
    "remote_ip_usage": "ip",
    "user_context_usage": "user",
    "port_usage_by_hour": "hour",
}


def duckdb_sql(path, options):
    """The statement loading the PORTS log into table t."""
    fields = options.get("fields", 10)
    validate = options.get("validate", False)
    columns = COLUMNS[:fields]
    types = ", ".join(f"'{name}': '{'VARCHAR' if validate else kind}'" for name, kind in columns)
    read = [
        f"'{path}'",
        "skip=4",
        "header=false",
        "auto_detect=false",
        "delim=','",
        "quote='\"'",
        "escape='\"'",
        f"columns={{{types}}}",
    ]
    if "encoding" in options:
        read.append(f"encoding='{options['encoding']}'")
    if options.get("null_padding"):
        read.append("null_padding=true")
    source = f"read_csv({', '.join(read)})"
    if not validate:
        return f"CREATE TABLE t AS SELECT * FROM {source}"
    casts = ", ".join(f"CAST({name} AS {kind}) {name}" if kind != "VARCHAR" else name for name, kind in columns)
    return f"CREATE TABLE t AS SELECT {casts} FROM {source} WHERE {VALID_ROW}"


def duckdb_child(shape, path):
    """Runs in the child process: loads, computes the views, prints JSON."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute(duckdb_sql(path, SHAPES[shape]))
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    columns = {name for name, _ in COLUMNS[: SHAPES[shape].get("fields", 10)]}
    # A Windows 2000 log has no module or user column: those views have no groups.
    views = {
        name: [(r[0], r[1]) for r in con.execute(q).fetchall()] if VIEW_COLUMN[name] in columns else []
        for name, q in VIEWS.items()
    }
    wall = time.perf_counter() - start
    con.close()
    json.dump({"wall": wall, "rows": rows, "views": views}, sys.stdout)


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"], check=True)
    import duckdb

    return duckdb.__version__


def binary_hash():
    """The binary's hash, so that logs are made again when the generator may have changed."""
    import hashlib

    digest = hashlib.sha256()
    # In pieces: a whole file read at once would stay in this process's memory.
    with open(BIN, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def generate(shape, rows):
    out = os.path.join(DATA, f"{shape}-{rows}")
    ports = os.path.join(out, PORTS)
    command = [BIN, "generate", "--rows", str(rows), "--out", out, "--shape", shape]
    stamp = " ".join(command[1:]) + "\n" + binary_hash() + "\n"
    stamp_path = os.path.join(out, "generated-by.txt")
    current = open(stamp_path).read() if os.path.exists(stamp_path) else None
    if current != stamp or not os.path.exists(ports):
        subprocess.run(["rm", "-rf", out], check=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(stamp_path, "w") as f:
            f.write(stamp)
    return ports


# Runs its arguments after the first as a child and writes the child's wall seconds, peak RSS
# (KiB) and exit status to the file descriptor its first argument names.
# A child's peak RSS counts the memory of the process it was forked from (Linux keeps the larger
# of the two at exec), and this script grows (DuckDB imported, reports read); forked from a bare
# interpreter of a few MiB instead, even the statistics-only report's ~20 MiB reads true.
SPAWN = """
import os, sys, time
fd = int(sys.argv[1])
os.set_inheritable(fd, False)
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
os.write(fd, f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def timed(command):
    """Wall seconds, peak RSS (MiB) and standard output of one process."""
    read, write = os.pipe()
    wrapper = [sys.executable, "-S", "-c", SPAWN, str(write)] + command
    proc = subprocess.Popen(wrapper, stdout=subprocess.PIPE, pass_fds=(write,))
    os.close(write)
    out = proc.stdout.read()
    proc.wait()
    with os.fdopen(read) as f:
        wall, rss, status = f.read().split()
    if proc.returncode != 0 or int(status) != 0:
        sys.exit(f"{' '.join(command)} failed with status {status}")
    return float(wall), int(rss) / 1024, out


def ours_by_view(report):
    return {
        view: {entry[key]: entry["count"] for entry in report["stats"][view] if entry["count"] > 0}
        for view, key in OUR_KEYS.items()
    }


def check_same(shape, rows, report, duck):
    """Stops the script unless DuckDB found exactly prparser's rows and groups."""
    problems = []
    if report["rows"] != duck["rows"]:
        problems.append(f"rows: prparser {report['rows']}, DuckDB {duck['rows']}")
    ours = ours_by_view(report)
    for view, entries in duck["views"].items():
        theirs = {key: count for key, count in entries}
        if ours[view] != theirs:
            keys = sorted(set(ours[view]) | set(theirs), key=str)
            diff = [(k, ours[view].get(k), theirs.get(k)) for k in keys if ours[view].get(k) != theirs.get(k)]
            problems.append(f"{view}: {len(diff)} groups differ (key, prparser, DuckDB): {diff[:5]}")
    if problems:
        sys.exit(f"prparser and DuckDB disagree on {shape} at {rows:,} rows:\n  " + "\n  ".join(problems))


def medians(runs):
    """Median wall seconds and median peak RSS of `timed` runs."""
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def check_skipped(shape, rows, full, stats_only):
    """Stops the script unless the statistics-only report is the full one minus its two views."""
    want = dict(full)
    want.pop("changes", None)
    want["stats"] = {k: v for k, v in full["stats"].items() if k != "beaconing"}
    if stats_only != want:
        keys = sorted(k for k in set(want) | set(stats_only) if want.get(k) != stats_only.get(k))
        sys.exit(f"--skip changed more than the skipped views on {shape} at {rows:,} rows: {keys}")


def parse_size(text):
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:].upper(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit():
    out = subprocess.run(["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main():
    global BIN
    if len(sys.argv) == 4 and sys.argv[1] == "--duckdb-child":
        duckdb_child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated presets (default: all)")
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated row counts, e.g. 1M,10M or 200K")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="use the prparser binary as it is")
    parser.add_argument("--prparser", default=BIN, help="the binary to measure (default: the release build)")
    args = parser.parse_args()
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        sys.exit(f"unknown shapes {unknown}; known: {', '.join(SHAPES)}")
    sizes = [parse_size(s.strip()) for s in args.sizes.split(",") if s.strip()]

    BIN = os.path.abspath(args.prparser)
    version = ensure_duckdb()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "prparser"], cwd=ROOT, check=True)
    load_before = os.getloadavg()
    lines = [
        "| shape | rows | file MB | report (s) | report peak RSS (MiB) | statistics only (s) "
        f"| statistics only peak RSS (MiB) | DuckDB {version} (s) | DuckDB peak RSS (MiB) "
        "| speed-up: report | speed-up: statistics only |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
    for rows in sizes:
        for shape in shapes:
            ports = generate(shape, rows)
            size_mb = os.path.getsize(ports) / 1e6
            full, only, theirs = [], [], []
            report = [BIN, "report", "--format", "json"]
            for _ in range(args.runs):
                full.append(timed(report + [ports]))
                only.append(timed(report + ["--skip", "beaconing", "--skip", "changes", ports]))
                theirs.append(timed([sys.executable, os.path.abspath(__file__), "--duckdb-child", shape, ports]))
            full_report, only_report = json.loads(full[0][2]), json.loads(only[0][2])
            duck_runs = [json.loads(out) for _, _, out in theirs]
            check_same(shape, rows, full_report, duck_runs[0])
            check_same(shape, rows, only_report, duck_runs[0])
            check_skipped(shape, rows, full_report, only_report)
            wall, rss = medians(full)
            only_wall, only_rss = medians(only)
            duck = statistics.median(d["wall"] for d in duck_runs)
            duck_rss = statistics.median(r[1] for r in theirs)
            line = (
                f"| {shape} | {rows:,} | {size_mb:.0f} | {wall:.3f} | {rss:.0f} | {only_wall:.3f} | {only_rss:.0f} "
                f"| {duck:.3f} | {duck_rss:.0f} | {duck / wall:.1f}x | {duck / only_wall:.1f}x |"
            )
            lines.append(line)
            print(line, file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print("\n".join(lines))
    print()
    print(f"Measured {date.today().isoformat()} at commit {commit()}, {os.path.relpath(BIN, ROOT)}, on {machine()}; "
          f"median of {args.runs}; 1-minute load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.")


if __name__ == "__main__":
    main()
