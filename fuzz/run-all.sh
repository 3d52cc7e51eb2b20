#!/usr/bin/env bash
# Runs every fuzz target (or those named) for MINUTES each (fractions allowed: 0.1 = 6 s) with
# the seeds, the growing corpus and the JOSE/OAuth dictionary, then prints one summary line per
# target: executions, seconds, coverage (libFuzzer's cov/ft), corpus size, crashes.
#   fuzz/run-all.sh MINUTES [TARGET...]
# Environment: FUZZ_JOBS (targets run side by side, default 1), FUZZ_SANITIZER (address|none,
# default address), FUZZ_LOGS (default fuzz/logs), FUZZ_PROFILE (release|dev, default release:
# dev builds without optimisation: faster to build, slower to run). Exit status 1 if any target
# found a crash; the input is then in fuzz/artifacts/TARGET/ (docs/FUZZING.md: make it a
# regression test first).
# Needs cargo-fuzz and a nightly toolchain (cargo-fuzz passes -Z flags); see docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ]; then
    echo "usage: fuzz/run-all.sh MINUTES [TARGET...]" >&2
    exit 2
fi
secs=$(awk -v m="$1" 'BEGIN { s = int(m * 60); if (s < 1) s = 1; print s }')
shift
jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-address}
logs=${FUZZ_LOGS:-logs}
toolchain=${FUZZ_TOOLCHAIN:-+nightly}
fuzz=(cargo "$toolchain" fuzz)
profile=()
[ "${FUZZ_PROFILE:-release}" = dev ] && profile=(--dev)

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir .); fi
"${fuzz[@]}" build --fuzz-dir . "${profile[@]}" -s "$sanitizer" >/dev/null 2>&1 ||
    "${fuzz[@]}" build --fuzz-dir . "${profile[@]}" -s "$sanitizer"
mkdir -p "$logs"

run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    # -timeout: an input taking 10 s is a hang (a finding); -rss_limit_mb bounds memory.
    "${fuzz[@]}" run --fuzz-dir . $FUZZ_PROFILE_ARG -s "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
        -dict=oauth-jose.dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -max_len=16384 >"$logs/$t.log" 2>&1
}
export -f run_one
export secs sanitizer logs toolchain
export FUZZ_PROFILE_ARG="${profile[*]}"
export FUZZ_CMD="${fuzz[*]}"

status=0
printf '%s\n' "${targets[@]}" |
    xargs -P "$jobs" -I{} bash -c 'fuzz=($FUZZ_CMD); run_one "$1"' _ {} || status=1

# The last value of a libFuzzer statistic in a log (empty if it never printed one).
field() { { grep -o "$1" "$3" || true; } | awk -v n="$2" '{ print $n }' | tail -n 1; }

printf '%-26s %12s %6s %7s %7s %6s %7s\n' target executions secs cov ft corpus crashes
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    execs=$(field 'stat::number_of_executed_units: [0-9]*' 2 "$log")
    took=$(field 'Done [0-9]* runs in [0-9]* second' 5 "$log")
    cov=$(field 'cov: [0-9]*' 2 "$log")
    ft=$(field 'ft: [0-9]*' 2 "$log")
    corpus=$(find "corpus/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    [ "$crashes" = 0 ] || status=1
    printf '%-26s %12s %6s %7s %7s %6s %7s\n' "$t" "${execs:-?}" "${took:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes"
done
exit "$status"
