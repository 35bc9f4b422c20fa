#!/usr/bin/env bash
# Stop the napari-tramway test cluster: every daemon by its pid file (never by name), in reverse start
# order; SIGTERM, then SIGKILL after a timeout. Idempotent. State (database, Slurm state, keys) is
# kept for a quick restart; `stop.sh --purge` also removes $NTW_CLUSTER_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

require_root
purge=0
for arg in "$@"; do
    case "$arg" in
        --purge) purge=1 ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
    esac
done

t0=$(date +%s.%N)

# Jobs still running would leave their slurmstepd behind once slurmd is gone: cancel them first.
if is_running slurmctld; then
    mapfile -t live < <(slurm_env squeue -h -t PD,R,CG,S,CF -o '%A' 2>/dev/null || true)
    if [ "${#live[@]}" -gt 0 ]; then
        log "cancelling ${#live[@]} live job(s): ${live[*]}"
        slurm_env scancel "${live[@]}" 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -z "$(slurm_env squeue -h -t R,CG -o '%A' 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi

for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    stop_daemon "${DAEMONS[$i]}" 30
done

if [ "$purge" = 1 ] && [ -d "$STATE" ]; then
    case "$STATE" in
        /|/tmp|/home|/root|/opt) die "refusing to remove $STATE" ;;
    esac
    rm -rf "$STATE"
    log "removed $STATE"
fi
log "cluster stopped in $(elapsed "$t0") s"
