#!/usr/bin/env bash
# Control single daemons of a running napari-tramway test cluster (for tests and by hand).
#
#   ctl.sh status                 one line per daemon (running/stopped, pid) and the listening sockets
#   ctl.sh stop-NAME              stop one daemon by its pid file (NAME: munged mariadb slurmdbd
#                                 slurmctld slurmd sshd bastion); stop-sshd (stop-bastion) also ends
#                                 the open ssh sessions, as if the host went away
#   ctl.sh start-NAME             start it again with the config start.sh wrote
#   ctl.sh restart-NAME           both
#   ctl.sh pause-NAME             SIGSTOP a daemon (a hung daemon: clients wait for their timeouts)
#   ctl.sh resume-NAME            SIGCONT it
#   ctl.sh accounting-off         restart slurmctld and slurmd with AccountingStorageType=none:
#                                 sacct then says "Slurm accounting storage is disabled"
#   ctl.sh accounting-on          back to accounting through slurmdbd (start.sh does this too)
#   ctl.sh listeners              fail if a daemon of ours listens beyond 127.0.0.1
#   ctl.sh env                    print cluster.env
#   ctl.sh log NAME [LINES]       tail of a daemon's log
#   ctl.sh ssh [COMMAND...]       run a command as the test user over the test sshd
#
# Examples: tests stop sshd while a run is polled and restart it (stop-sshd / start-sshd), and stop
# slurmdbd to see "accounting is down" (stop-slurmdbd / start-slurmdbd); squeue and scontrol keep working.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

known_daemon() {
    local d
    for d in "${DAEMONS[@]}"; do [ "$d" = "$1" ] && return 0; done
    echo "[ntw-cluster] unknown daemon '$1' (one of: ${DAEMONS[*]})" >&2
    exit 2
}

[ $# -ge 1 ] || { usage; exit 2; }
cmd="$1"; shift
case "$cmd" in
    -h|--help|help) usage ;;
    status)
        rc=0
        for d in "${DAEMONS[@]}"; do
            if pid="$(pid_of "$d")"; then
                printf '%-10s running  pid %s\n' "$d" "$pid"
            else
                printf '%-10s stopped\n' "$d"
                rc=3
            fi
        done
        for d in "${DAEMONS[@]}"; do
            pid="$(pid_of "$d")" || continue
            { ss -H -ltnp; ss -H -lunp; } 2>/dev/null | grep -E "pid=$pid," \
                | awk -v d="$d" '{printf "%-10s listens  %s\n", d, $4}' || true
        done
        exit "$rc"
        ;;
    stop-*)
        require_root
        name="${cmd#stop-}"; known_daemon "$name"
        stop_daemon "$name" 30
        ;;
    start-*)
        require_root
        name="${cmd#start-}"; known_daemon "$name"
        [ -s "$SLURM_CONF_FILE" ] || die "no configuration in $STATE: run start.sh first"
        "start_$name"
        ;;
    restart-*)
        require_root
        name="${cmd#restart-}"; known_daemon "$name"
        [ -s "$SLURM_CONF_FILE" ] || die "no configuration in $STATE: run start.sh first"
        stop_daemon "$name" 30
        "start_$name"
        ;;
    pause-*|resume-*)
        require_root
        name="${cmd#*-}"; known_daemon "$name"
        pid="$(pid_of "$name")" || die "$name is not running" "$name"
        if [ "${cmd%%-*}" = pause ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
        log "${cmd%%-*}d $name (pid $pid)"
        ;;
    accounting-off|accounting-on)
        require_root
        [ -s "$SLURM_CONF_FILE" ] || die "no configuration in $STATE: run start.sh first"
        t0=$(date +%s.%N)
        if [ "$cmd" = accounting-off ]; then touch "$ACCOUNTING_OFF_FLAG"; else rm -f "$ACCOUNTING_OFF_FLAG"; fi
        write_slurm_conf
        stop_daemon slurmd 30
        stop_daemon slurmctld 30
        start_slurmctld
        start_slurmd
        wait_for 60 "node idle" node_idle || die "node not idle after the restart" slurmctld slurmd
        if [ "$cmd" = accounting-on ]; then
            wait_for 60 "accounting" accounting_ok || die "sacct does not work" slurmdbd slurmctld
        fi
        log "$cmd done in $(elapsed "$t0") s"
        ;;
    listeners)
        listeners_ok && echo "[ntw-cluster] all daemons listen on loopback only"
        ;;
    env)
        cat "$STATE/cluster.env"
        ;;
    log)
        [ $# -ge 1 ] || { usage; exit 2; }
        known_daemon "$1"
        tail -n "${2:-40}" "$(daemon_log "$1")"
        ;;
    ssh)
        ssh_cmd "$@"
        ;;
    *)
        usage
        exit 2
        ;;
esac
