#!/usr/bin/env bash
# Smoke test of a running napari-tramway test cluster, over ssh as the test user, with timings:
#   1. an array job (--array=0-3%2) whose tasks run `singularity exec -B ~/scratch:/scratch IMAGE python3`
#      importing numpy, scipy and pandas: every task COMPLETED in sacct;
#   2. a missing image: the task FAILED with exit code 255 (sacct prints 127: codes >= 128 lose 128)
#      and the real tool's FATAL message;
#   3. scancel of a running job: CANCELLED;
#   4. a --time=0:00:05 job running `sleep 120`: TIMEOUT (Slurm rounds the limit up to one minute;
#      skipped with --no-timeout);
#   5. no daemon of ours listens beyond loopback while jobs run.
# Usage: smoke.sh [--no-timeout]. Needs start.sh first. Exit status 0 when everything held.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"
require_root

with_timeout=1
[ "${1:-}" = "--no-timeout" ] && with_timeout=0
[ -s "$STATE/cluster.env" ] || die "no $STATE/cluster.env: run start.sh first"
# shellcheck disable=SC1091
source "$STATE/cluster.env"
export SLURM_CONF

failures=0
check() {   # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}
now() { date +%s.%N; }
since() { elapsed "$1"; }

# sacct_states JOBID: "JobID|State|ExitCode" lines of the job (array tasks one per line), no steps.
sacct_states() { sacct -j "$1" -X --format=JobID,State,ExitCode -P -n 2>/dev/null; }
ctl_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2; }

# wait_sacct JOBID N STATE TIMEOUT: until sacct shows N records all in STATE (placeholders skipped).
wait_sacct() {
    local id="$1" n="$2" want="$3" timeout="$4" t0 lines count
    t0=$(date +%s)
    while :; do
        lines="$(sacct_states "$id" | grep -v '^$' || true)"
        count="$(grep -c "|$want" <<< "$lines" || true)"
        if [ "$(grep -c . <<< "$lines" || true)" -ge "$n" ] && [ "$count" -ge "$n" ]; then
            printf '%s\n' "$lines"
            return 0
        fi
        if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
            echo "timed out; sacct says:" >&2
            printf '%s\n' "$lines" >&2
            return 1
        fi
        sleep 0.2
    done
}

IMG="$NTW_CONTAINER"

# 1. array job through the stand-in container ------------------------------------------------------
t=$(now)
array_id="$(ssh_cmd "sbatch --parsable -J ntw-smoke-array --array=0-3%2 --time=0:02:00 -o \$HOME/scratch/smoke-%A_%a.out" <<EOF
#!/bin/bash
singularity exec -B \$HOME/scratch:/scratch $IMG python3 -c '
import os, sys, numpy, scipy, pandas
task = os.environ["SLURM_ARRAY_TASK_ID"]
print("task", task, "python", sys.executable, "numpy", numpy.__version__, "scipy", scipy.__version__, "pandas", pandas.__version__, "cwd", os.getcwd())
open("/scratch/smoke-task-%s.txt" % task, "w").write("ok")
'
EOF
)"
array_id="${array_id%%;*}"
echo "array job $array_id submitted over ssh in $(since "$t") s"
check "listeners on loopback only while jobs run" listeners_ok
if out="$(wait_sacct "$array_id" 4 COMPLETED 120)"; then
    echo "array job: all 4 tasks COMPLETED in sacct $(since "$t") s after submission:"
    while read -r l; do echo "    $l"; done <<< "$out"
    check "array job tasks COMPLETED" true
else
    check "array job tasks COMPLETED" false
fi
check "array task output mentions numpy/scipy/pandas" \
    grep -q "numpy .* scipy .* pandas" "$NTW_SCRATCH/smoke-${array_id}_3.out"
check "array tasks wrote through the -B bind" test -s "$NTW_SCRATCH/smoke-task-3.txt"
check "stand-in logged the array tasks" \
    grep -q "\"slurm_array_job_id\": \"$array_id\"" "$NTW_STANDIN_LOG"
echo "    $(head -n 1 "$NTW_SCRATCH/smoke-${array_id}_0.out")"

# 2. missing image ---------------------------------------------------------------------------------
t=$(now)
miss_id="$(ssh_cmd "sbatch --parsable -J ntw-smoke-missing --time=0:01:00 -o \$HOME/scratch/smoke-missing-%j.out --wrap='singularity exec \$HOME/containers/no-such-image.sif python3 -c pass'")"
if out="$(wait_sacct "$miss_id" 1 FAILED 60)"; then
    echo "missing image: FAILED in sacct after $(since "$t") s: $out"
    # The stand-in exits 255 like the real tool; scontrol reports 255, but sacct prints exit codes
    # >= 128 minus 128 (it takes them for "killed by a signal" shell codes): 127.
    check "missing image -> scontrol ExitCode=255:0" \
        grep -q 'ExitCode=255:0' <<< "$(scontrol show job -o "$miss_id")"
    check "missing image -> sacct FAILED 127:0 (255 - 128)" grep -q '|FAILED|127:0' <<< "$out"
else
    check "missing image -> FAILED" false
fi
check "missing image -> the real tool's FATAL message" \
    grep -q "FATAL:   could not open image .*no-such-image.sif: failed to retrieve path" \
    "$NTW_SCRATCH/smoke-missing-$miss_id.out"

# 3. scancel ---------------------------------------------------------------------------------------
cancel_id="$(ssh_cmd "sbatch --parsable -J ntw-smoke-cancel --time=0:05:00 -o /dev/null --wrap='sleep 120'")"
for _ in $(seq 1 100); do [ "$(ctl_state "$cancel_id")" = RUNNING ] && break; sleep 0.1; done
t=$(now)
ssh_cmd "scancel $cancel_id"
if out="$(wait_sacct "$cancel_id" 1 CANCELLED 60)"; then
    echo "scancel: CANCELLED in sacct $(since "$t") s after scancel: $out"
    check "scancel -> CANCELLED" true
else
    check "scancel -> CANCELLED" false
fi

# 4. TIMEOUT ---------------------------------------------------------------------------------------
if [ "$with_timeout" = 1 ]; then
    t=$(now)
    to_id="$(ssh_cmd "sbatch --parsable -J ntw-smoke-timeout --time=0:00:05 -o /dev/null --wrap='sleep 120'")"
    limit="$(scontrol show job -o "$to_id" | grep -o 'TimeLimit=[^ ]*')"
    started=""
    for _ in $(seq 1 2400); do
        st="$(ctl_state "$to_id")"
        [ "$st" = RUNNING ] && [ -z "$started" ] && started=$(now)
        [ "$st" = TIMEOUT ] && break
        sleep 0.1
    done
    echo "timeout job $to_id ($limit): scontrol says ${st:-?} $(since "$t") s after submission" \
         "($(since "${started:-$t}") s after it started running)"
    if out="$(wait_sacct "$to_id" 1 TIMEOUT 60)"; then
        echo "timeout job: TIMEOUT in sacct $(since "$t") s after submission: $out"
        check "--time=0:00:05 + sleep 120 -> TIMEOUT" true
    else
        check "--time=0:00:05 + sleep 120 -> TIMEOUT" false
    fi
fi

check "listeners on loopback only after the jobs" listeners_ok
echo "smoke: $failures failure(s)"
[ "$failures" = 0 ]
