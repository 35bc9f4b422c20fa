#!/usr/bin/env bash
# Start the napari-tramway test cluster: munged, MariaDB, slurmdbd, slurmctld, slurmd and a dedicated
# sshd (plus a second sshd acting as a bastion), all on 127.0.0.1 only, with configs, pid files and logs
# in $NTW_CLUSTER_DIR (default /tmp/napari-tramway-cluster). Idempotent: running daemons are left as
# they are, except slurmctld and slurmd, restarted when slurm.conf changed (a new version of this script).
# Needs install.sh first. Writes $STATE/cluster.env and $STATE/cluster.json for the tests.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

require_root
t0=$(date +%s.%N)

id -u "$NTW_USER" >/dev/null 2>&1 || die "user $NTW_USER missing: run tests/cluster/install.sh first" 
[ -x "$CLUSTER_PYTHON" ] || die "cluster Python $CLUSTER_PYTHON missing: run tests/cluster/install.sh first"
for tool in munged mariadbd slurmdbd slurmctld slurmd sshd bwrap; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] \
        || die "$tool missing: run tests/cluster/install.sh first"
done

ensure_hostname_resolves
make_dirs
if [ -e "$ACCOUNTING_OFF_FLAG" ]; then
    # Left by `ctl.sh accounting-off`: start.sh always brings back the standard cluster.
    log "accounting was switched off: switching it back on (restarting slurmctld and slurmd)"
    rm -f "$ACCOUNTING_OFF_FLAG"
    stop_daemon slurmd 30
    stop_daemon slurmctld 30
fi
write_slurm_conf
if [ "$SLURM_CONF_CHANGED" = 1 ] && { is_running slurmctld || is_running slurmd; }; then
    # Some settings (AccountingStorageEnforce...) need a restart of slurmctld; jobs survive it.
    log "slurm.conf changed: restarting slurmctld and slurmd"
    stop_daemon slurmd 30
    stop_daemon slurmctld 30
fi
write_sshd_conf
write_bastion_conf
setup_client_key

start_munged
start_mariadb
start_slurmdbd
start_slurmctld
start_slurmd
start_sshd
start_bastion

if [ ! -e "$ACCOUNTING_OFF_FLAG" ]; then
    wait_for 60 "cluster registered" cluster_registered || die "slurmctld did not register the cluster in slurmdbd" slurmdbd slurmctld
    ensure_accounts
    wait_for 30 "association pushed" accounts_ok || die "slurmctld does not know $NTW_USER's association" slurmdbd slurmctld
    log "account $NTW_ACCOUNT (QoS normal, $NTW_QOS) for $NTW_USER"
fi

wait_for 60 "node idle" node_idle || die "node $(hostname -s) is not idle: $(slurm_env sinfo -h -N 2>&1)" slurmd slurmctld
log "node $(hostname -s) idle"
wait_for 60 "accounting" accounting_ok || die "sacct does not work: $(timeout 10 env SLURM_CONF="$SLURM_CONF_FILE" sacct -n -X 2>&1 | tail -n 3)" slurmdbd slurmctld
log "accounting up (sacct works)"
listeners_ok || die "a daemon listens beyond loopback"

HPC_HOME="$(getent passwd "$NTW_USER" | cut -d: -f6)"
CONTAINER="$HPC_HOME/containers/napari-tramway-test.sif"
SCRATCH="$HPC_HOME/scratch"

# --- the environment file the tests read -------------------------------------------------------------
write_env() {
    local tmp="$STATE/cluster.env.tmp"
    {
        echo "# napari-tramway test cluster (tests/cluster/start.sh); source it or read cluster.json"
        echo "NTW_CLUSTER_DIR=$STATE"
        echo "NTW_SSH_HOST=127.0.0.1"
        echo "NTW_SSH_PORT=$NTW_SSH_PORT"
        echo "NTW_SSH_USER=$NTW_USER"
        echo "NTW_SSH_KEY=$CLIENT_KEY"
        echo "NTW_KNOWN_HOSTS=$KNOWN_HOSTS"
        echo "NTW_BASTION_PORT=$NTW_BASTION_PORT"
        echo "NTW_BASTION_KNOWN_HOSTS=$BASTION_KNOWN_HOSTS"
        echo "NTW_BASTION_HOST_KEY_PUB=$STATE/ssh/bastion_host_ed25519_key.pub"
        echo "NTW_SSH_CONFIG=$CLIENT_SSH_CONFIG"
        echo "NTW_SSH_HOST_KEY_PUB=$STATE/ssh/ssh_host_ed25519_key.pub"
        echo "NTW_CLUSTER_PYTHON=$CLUSTER_PYTHON"
        echo "NTW_CONTAINER=$CONTAINER"
        echo "NTW_SINGULARITY=$(command -v singularity || echo "$NTW_OPT/bin/singularity")"
        echo "NTW_SINGULARITY_IS_STANDIN=$([ "$(readlink -f "$(command -v singularity || true)" 2>/dev/null)" = "$NTW_OPT/bin/standin-singularity" ] && echo 1 || echo 0)"
        echo "NTW_SCRATCH=$SCRATCH"
        echo "NTW_STANDIN_LOG=$STANDIN_LOG"
        echo "NTW_SLURM_PARTITION=debug"
        echo "NTW_SLURM_PARTITIONS=debug,ntwlong"
        echo "NTW_SLURM_ACCOUNT=$NTW_ACCOUNT"
        echo "NTW_SLURM_QOS=$NTW_QOS"
        echo "NTW_MAX_ARRAY_SIZE=$NTW_MAX_ARRAY_SIZE"
        echo "NTW_SLURM_CLUSTER=$NTW_CLUSTER_NAME"
        echo "NTW_SLURM_NODE=$(hostname -s)"
        echo "SLURM_CONF=$SLURM_CONF_FILE"
        echo "NTW_CTL=$HERE/ctl.sh"
        local d upper
        for d in "${DAEMONS[@]}"; do
            upper="$(tr '[:lower:]' '[:upper:]' <<< "$d")"
            echo "NTW_PID_$upper=$(daemon_pidfile "$d")"
            echo "NTW_LOG_$upper=$(daemon_log "$d")"
        done
    } > "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$STATE/cluster.env"
    /usr/bin/python3 - "$STATE/cluster.env" "$STATE/cluster.json" <<'EOF'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
data = {}
for line in open(src):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1)
        data[k] = int(v) if k in ("NTW_SSH_PORT", "NTW_BASTION_PORT", "NTW_MAX_ARRAY_SIZE",
                                  "NTW_SINGULARITY_IS_STANDIN") else v
tmp = dst + ".tmp"
with open(tmp, "w") as f:
    json.dump(data, f, indent=2, sort_keys=True)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, dst)
EOF
}
write_env

# --- prove the whole chain: a job submitted over ssh as the test user --------------------------------
j0=$(date +%s.%N)
jobid="$(ssh_cmd "sbatch --parsable -J ntw-smoke -o /dev/null --time=0:01:00 --wrap='hostname'")" \
    || die "sbatch over ssh failed" slurmctld sshd
jobid="${jobid%%;*}"
state=""
for _ in $(seq 1 300); do
    state="$(slurm_env scontrol show job -o "$jobid" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)"
    case "$state" in
        COMPLETED) break ;;
        FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
            die "smoke job $jobid ended $state" slurmctld slurmd ;;
    esac
    sleep 0.1
done
[ "$state" = COMPLETED ] || die "smoke job $jobid not completed after 30 s (state: ${state:-unknown})" slurmctld slurmd
log "smoke job $jobid (sbatch over ssh as $NTW_USER) COMPLETED in $(elapsed "$j0") s"
listeners_ok || die "a daemon listens beyond loopback"

log "cluster up in $(elapsed "$t0") s; environment: $STATE/cluster.env (and cluster.json)"
echo "$STATE/cluster.env"
