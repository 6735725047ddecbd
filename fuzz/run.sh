#!/usr/bin/env bash
# Runs every fuzz target in turn (one at a time: each takes the machine's cores it needs),
# SECONDS each (default 610), and prints libFuzzer's final line of each run.
# Needs cargo-fuzz (`cargo install cargo-fuzz --version 0.13.2 --locked`); on the stable
# toolchain RUSTC_BOOTSTRAP=1 lets it pass the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-610}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ports pids initial criteria partners)
[ -d corpus ] || ./seed.sh
mkdir -p artifacts/run-logs
for t in "${targets[@]}"; do
    echo "== $t (${seconds}s)"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 2>&1 | tee "artifacts/run-logs/$t.log" | grep -E '^(Done|==|SUMMARY|#[0-9]+ +DONE)' || true
done
