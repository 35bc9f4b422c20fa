# Shared settings and functions of the napari-tramway test cluster (sourced by the other scripts).
# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file

NTW_USER="${NTW_USER:-hpcuser}"
NTW_OPT="${NTW_OPT:-/opt/napari-tramway-cluster}"
STATE="${NTW_CLUSTER_DIR:-/tmp/napari-tramway-cluster}"
NTW_SSH_PORT="${NTW_SSH_PORT:-2222}"
NTW_BASTION_PORT="${NTW_BASTION_PORT:-2223}"     # a second sshd acting as a jump host (bastion)
# Site limits and accounts, as on an institute's cluster: arrays are limited to MaxArraySize task ids
# (101: indices 0-100, so a 100-unit run still fits in one array and larger ones must be split), jobs
# need an association (AccountingStorageEnforce), hpcuser's account is ntwlab with the QoS ntwqos.
NTW_MAX_ARRAY_SIZE="${NTW_MAX_ARRAY_SIZE:-101}"
NTW_ACCOUNT="${NTW_ACCOUNT:-ntwlab}"
NTW_QOS="${NTW_QOS:-ntwqos}"
NTW_SLURMCTLD_PORT="${NTW_SLURMCTLD_PORT:-6817}"
NTW_SLURMD_PORT="${NTW_SLURMD_PORT:-6818}"
NTW_SLURMDBD_PORT="${NTW_SLURMDBD_PORT:-6819}"
NTW_CLUSTER_NAME="${NTW_CLUSTER_NAME:-ntwtest}"

ETC="$STATE/etc"
RUN="$STATE/run"
LOGDIR="$STATE/log"
SLURM_CONF_FILE="$ETC/slurm.conf"
MYSQL_DIR="$STATE/mysql"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
CLIENT_DIR="$STATE/client"
CLIENT_KEY="$CLIENT_DIR/id_ed25519"
KNOWN_HOSTS="$CLIENT_DIR/known_hosts"
BASTION_KNOWN_HOSTS="$CLIENT_DIR/known_hosts_bastion"
CLIENT_SSH_CONFIG="$CLIENT_DIR/ssh_config"
STANDIN_DIR="$STATE/standin"
STANDIN_LOG="$STANDIN_DIR/calls.jsonl"
CLUSTER_PYTHON="$NTW_OPT/venv/bin/python"

# name | pid file | executable (checked against /proc/PID/exe, so a recycled pid is never signalled) | log
PID_MUNGED="$RUN/munge/munged.pid"
PID_MARIADB="$RUN/mysql/mariadb.pid"
PID_SLURMDBD="$RUN/slurmdbd.pid"
PID_SLURMCTLD="$RUN/slurmctld.pid"
PID_SLURMD="$RUN/slurmd.pid"
PID_SSHD="$RUN/sshd.pid"
PID_BASTION="$RUN/bastion.pid"
LOG_MUNGED="$LOGDIR/munged.log"
LOG_MARIADB="$LOGDIR/mariadb.log"
LOG_SLURMDBD="$LOGDIR/slurmdbd.log"
LOG_SLURMCTLD="$LOGDIR/slurmctld.log"
LOG_SLURMD="$LOGDIR/slurmd.log"
LOG_SSHD="$LOGDIR/sshd.log"
LOG_BASTION="$LOGDIR/bastion.log"
DAEMONS=(munged mariadb slurmdbd slurmctld slurmd sshd bastion)   # start order; stop in reverse

daemon_pidfile() {
    case "$1" in
        munged) echo "$PID_MUNGED" ;; mariadb) echo "$PID_MARIADB" ;; slurmdbd) echo "$PID_SLURMDBD" ;;
        slurmctld) echo "$PID_SLURMCTLD" ;; slurmd) echo "$PID_SLURMD" ;; sshd) echo "$PID_SSHD" ;;
        bastion) echo "$PID_BASTION" ;;
        *) return 1 ;;
    esac
}
daemon_exe() {
    case "$1" in
        munged) echo /usr/sbin/munged ;; mariadb) echo /usr/sbin/mariadbd ;;
        slurmdbd) echo /usr/sbin/slurmdbd ;; slurmctld) echo /usr/sbin/slurmctld ;;
        slurmd) echo /usr/sbin/slurmd ;; sshd|bastion) echo /usr/sbin/sshd ;;
        *) return 1 ;;
    esac
}
daemon_log() {
    case "$1" in
        munged) echo "$LOG_MUNGED" ;; mariadb) echo "$LOG_MARIADB" ;; slurmdbd) echo "$LOG_SLURMDBD" ;;
        slurmctld) echo "$LOG_SLURMCTLD" ;; slurmd) echo "$LOG_SLURMD" ;; sshd) echo "$LOG_SSHD" ;;
        bastion) echo "$LOG_BASTION" ;;
        *) return 1 ;;
    esac
}

NTW_T_START="${NTW_T_START:-$(date +%s.%N)}"
log() {
    printf '[ntw-cluster %5ss] %s\n' \
        "$(awk -v a="$NTW_T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$*" >&2
}

require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "[ntw-cluster] must run as root" >&2
        exit 1
    fi
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

show_log_tail() {   # show_log_tail FILE [LINES]
    local f="$1" n="${2:-25}"
    if [ -s "$f" ]; then
        echo "----- last $n lines of $f -----" >&2
        tail -n "$n" "$f" >&2
    fi
}

die() {   # die MESSAGE [DAEMON...]: print the message and the logs of the named daemons (all if none)
    local msg="$1"; shift
    echo "[ntw-cluster] ERROR: $msg" >&2
    local names=("$@")
    [ "${#names[@]}" -gt 0 ] || names=("${DAEMONS[@]}")
    local d
    for d in "${names[@]}"; do show_log_tail "$(daemon_log "$d")"; done
    exit 1
}

# pid_of NAME: print the daemon's pid if its pid file names a live process running the expected binary.
pid_of() {
    local pidfile exe pid real
    pidfile="$(daemon_pidfile "$1")"; exe="$(readlink -f "$(daemon_exe "$1")")"
    [ -s "$pidfile" ] || return 1
    pid="$(tr -dc '0-9' < "$pidfile")"
    [ -n "$pid" ] && alive "$pid" || return 1
    real="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    real="${real% (deleted)}"
    [ "$real" = "$exe" ] || return 1
    echo "$pid"
}

is_running() { pid_of "$1" >/dev/null; }

# alive PID: the process exists and is not a zombie (daemons are reparented to pid 1, which here
# reaps only about once a second).
alive() {
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# descendants PID: every process below PID (by parent pid), deepest last.
descendants() {
    local parent="$1" child
    for child in $(ps -o pid= --ppid "$parent" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# stop_daemon NAME [TIMEOUT]: SIGTERM by pid file, wait, SIGKILL after TIMEOUT seconds; remove the pid file.
stop_daemon() {
    local name="$1" timeout="${2:-20}" pidfile pid i t0
    pidfile="$(daemon_pidfile "$name")"
    t0=$(date +%s.%N)
    if pid="$(pid_of "$name")"; then
        local kids=()
        if [ "$name" = sshd ] || [ "$name" = bastion ]; then
            # The listener's per-connection children would keep open sessions alive: end them too,
            # so that "sshd stopped" looks like a host that went away.
            mapfile -t kids < <(descendants "$pid")
        fi
        kill -TERM "$pid" 2>/dev/null || true
        if [ "${#kids[@]}" -gt 0 ]; then kill -TERM "${kids[@]}" 2>/dev/null || true; fi
        for ((i = 0; i < timeout * 10; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name (pid $pid) still alive after ${timeout}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        if [ "${#kids[@]}" -gt 0 ]; then kill -KILL "${kids[@]}" 2>/dev/null || true; fi
        log "stopped $name (pid $pid) in $(elapsed "$t0") s"
    fi
    rm -f "$pidfile"
}

# listeners_ok: fail if any of our daemons listens on anything but loopback.
listeners_ok() {
    local name pid bad=0 line
    for name in "${DAEMONS[@]}"; do
        pid="$(pid_of "$name")" || continue
        while read -r line; do
            [ -n "$line" ] || continue
            local addr
            addr="$(awk '{print $4}' <<< "$line")"
            case "$addr" in
                127.0.0.1:*|\[::1\]:*|'[::ffff:127.0.0.1]':*) ;;
                *) echo "[ntw-cluster] ERROR: $name (pid $pid) listens on $addr" >&2; bad=1 ;;
            esac
        done < <({ ss -H -ltnp; ss -H -lunp; } 2>/dev/null | grep -E "pid=$pid," || true)
    done
    return "$bad"
}

slurm_env() { env SLURM_CONF="$SLURM_CONF_FILE" "$@"; }

# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------

ensure_hostname_resolves() {
    local short
    short="$(hostname -s)"
    if ! getent hosts localhost >/dev/null 2>&1; then
        log "adding '127.0.0.1 localhost' to /etc/hosts"
        printf '127.0.0.1 localhost\n' >> /etc/hosts
    fi
    if ! getent hosts "$short" >/dev/null 2>&1; then
        log "adding '127.0.0.1 $short' to /etc/hosts (the short hostname must resolve for Slurm)"
        printf '127.0.0.1 %s # napari-tramway test cluster\n' "$short" >> /etc/hosts
    fi
}

make_dirs() {
    install -d -m 755 "$STATE" "$ETC" "$RUN" "$LOGDIR" "$CLIENT_DIR" "$STATE/ssh"
    chmod 700 "$CLIENT_DIR" "$STATE/ssh"
    install -d -o munge -g munge -m 755 "$RUN/munge"
    install -d -o mysql -g mysql -m 755 "$RUN/mysql" "$MYSQL_DIR"
    install -d -o slurm -g slurm -m 755 "$STATE/slurm" "$STATE/slurm/state"
    install -d -m 755 "$STATE/slurmd" "$STATE/slurmd/spool"
    install -d -m 1777 "$STANDIN_DIR"
    # Log files exist before their daemon, owned by the user it runs as.
    local f
    for f in "$LOG_MUNGED:munge" "$LOG_MARIADB:mysql" "$LOG_SLURMDBD:slurm" "$LOG_SLURMCTLD:slurm" \
             "$LOG_SLURMD:root" "$LOG_SSHD:root" "$LOG_BASTION:root"; do
        [ -e "${f%%:*}" ] || install -m 640 -o "${f##*:}" -g "${f##*:}" /dev/null "${f%%:*}"
    done
    # The stand-in's call log: every user appends one JSON line per call.
    [ -e "$STANDIN_LOG" ] || install -m 666 /dev/null "$STANDIN_LOG"
    chmod 666 "$STANDIN_LOG"
    # The stand-in finds its log here (tests may override with NTW_STANDIN_LOG).
    if [ -d "$NTW_OPT" ]; then
        printf '{"log": "%s", "cluster_dir": "%s"}\n' "$STANDIN_LOG" "$STATE" > "$NTW_OPT/standin.json.tmp"
        chmod 644 "$NTW_OPT/standin.json.tmp"
        mv -f "$NTW_OPT/standin.json.tmp" "$NTW_OPT/standin.json"
    fi
    local home
    home="$(getent passwd "$NTW_USER" | cut -d: -f6)"
    install -d -o "$NTW_USER" -g "$NTW_USER" -m 755 "$home/scratch"
}

ACCOUNTING_OFF_FLAG="$ETC/accounting-off"
accounting_lines() {
    if [ -e "$ACCOUNTING_OFF_FLAG" ]; then
        echo "# ctl.sh accounting-off: no accounting (sacct: 'Slurm accounting storage is disabled')"
        echo "AccountingStorageType=accounting_storage/none"
    else
        echo "AccountingStorageType=accounting_storage/slurmdbd"
        echo "AccountingStorageHost=127.0.0.1"
        echo "AccountingStoragePort=$NTW_SLURMDBD_PORT"
        echo "# Jobs need an association (user + account) and a QoS it allows, as on most sites: an"
        echo "# unknown account or QoS is refused by sbatch (ensure_accounts creates hpcuser's)."
        echo "AccountingStorageEnforce=associations,qos"
    fi
}

write_slurm_conf() {
    local short node_line
    short="$(hostname -s)"
    node_line="$(slurmd -C | head -n 1)"
    [[ "$node_line" == NodeName=* ]] || die "unexpected 'slurmd -C' output: $node_line"
    cat > "$SLURM_CONF_FILE.tmp" <<EOF
# Generated by napari-tramway tests/cluster/start.sh: a single-node test cluster on 127.0.0.1.
ClusterName=$NTW_CLUSTER_NAME
SlurmctldHost=$short(127.0.0.1)
SlurmctldPort=$NTW_SLURMCTLD_PORT
SlurmdPort=$NTW_SLURMD_PORT
# Both, or slurmctld binds 0.0.0.0.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups on this machine kind.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
$(accounting_lines)
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# The default adds ~3 s per job.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay visible to scontrol / squeue -t all for an hour.
MinJobAge=3600
# The largest array task id + 1 (default 1001): larger runs are split into several arrays.
MaxArraySize=$NTW_MAX_ARRAY_SIZE
# Short time limits end quickly: no grace, short SIGTERM -> SIGKILL delay.
OverTimeLimit=0
KillWait=2
InactiveLimit=0
Waittime=0
SlurmctldTimeout=60
SlurmdTimeout=120
StateSaveLocation=$STATE/slurm/state
SlurmdSpoolDir=$STATE/slurmd/spool
SlurmctldPidFile=$PID_SLURMCTLD
SlurmdPidFile=$PID_SLURMD
SlurmctldLogFile=$LOG_SLURMCTLD
SlurmdLogFile=$LOG_SLURMD
SlurmctldDebug=info
SlurmdDebug=info
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
# A second partition on the same node, to choose one from a site adapter, a spec or the CLI.
PartitionName=ntwlong Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
    if cmp -s "$SLURM_CONF_FILE.tmp" "$SLURM_CONF_FILE"; then
        SLURM_CONF_CHANGED=0
        rm -f "$SLURM_CONF_FILE.tmp"
    else
        SLURM_CONF_CHANGED=1
        mv -f "$SLURM_CONF_FILE.tmp" "$SLURM_CONF_FILE"
    fi
    chmod 644 "$SLURM_CONF_FILE"

    # Clients (sbatch, sacct... run by hpcuser over ssh, and by the tests) read /etc/slurm/slurm.conf.
    install -d -m 755 /etc/slurm
    if [ -L /etc/slurm/slurm.conf ] || [ ! -e /etc/slurm/slurm.conf ]; then
        ln -sfn "$SLURM_CONF_FILE" /etc/slurm/slurm.conf
    elif ! cmp -s /etc/slurm/slurm.conf "$SLURM_CONF_FILE"; then
        log "WARNING: /etc/slurm/slurm.conf is a file of its own: left alone; ssh sessions get SLURM_CONF"
    fi

    # slurmdbd: socket-only MariaDB, listening on 127.0.0.1 only.
    cat > "$ETC/slurmdbd.conf.tmp" <<EOF
# Generated by napari-tramway tests/cluster/start.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$NTW_SLURMDBD_PORT
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
LogFile=$LOG_SLURMDBD
PidFile=$PID_SLURMDBD
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$(db_password)
StorageLoc=slurm_acct_db
EOF
    install -o slurm -g slurm -m 600 "$ETC/slurmdbd.conf.tmp" "$ETC/slurmdbd.conf"
    rm -f "$ETC/slurmdbd.conf.tmp"
}

db_password() {
    local f="$ETC/db.pass"
    if [ ! -s "$f" ]; then
        (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$f")
    fi
    cat "$f"
}

# What the login sshd and the bastion share: keys only, the test user only, no PAM, X11 or agent.
sshd_common_options() {
    cat <<'OPTS'
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
UsePAM no
StrictModes yes
X11Forwarding no
AllowAgentForwarding no
OPTS
    echo "AllowUsers $NTW_USER"
}

write_sshd_conf() {
    local key="$STATE/ssh/ssh_host_ed25519_key"
    [ -s "$key" ] || ssh-keygen -q -t ed25519 -N '' -C "napari-tramway-test-cluster" -f "$key"
    chmod 600 "$key"
    cat > "$ETC/sshd_config" <<EOF
# Generated by napari-tramway tests/cluster/start.sh: a dedicated sshd on loopback only.
Port $NTW_SSH_PORT
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $key
PidFile $PID_SSHD
$(sshd_common_options)
PrintMotd no
PrintLastLog no
# Tests open many sessions quickly; reconnection tests restart this daemon.
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 30
ClientAliveInterval 15
ClientAliveCountMax 4
SetEnv SLURM_CONF=$SLURM_CONF_FILE
Subsystem sftp internal-sftp
LogLevel INFO
EOF
    chmod 644 "$ETC/sshd_config"
    install -d -m 755 /run/sshd
    /usr/sbin/sshd -t -f "$ETC/sshd_config" || die "sshd -t rejected $ETC/sshd_config" sshd
}

# The bastion: a second sshd on another loopback port with its own host key, for the same test user,
# that only forwards to the login sshd (PermitOpen) and gives no shell (ForceCommand): what
# `ProxyJump bastion` and `ProxyCommand ssh -W %h:%p bastion` go through.
write_bastion_conf() {
    local key="$STATE/ssh/bastion_host_ed25519_key"
    [ -s "$key" ] || ssh-keygen -q -t ed25519 -N '' -C "napari-tramway-test-bastion" -f "$key"
    chmod 600 "$key"
    cat > "$ETC/bastion_sshd_config" <<EOF
# Generated by napari-tramway tests/cluster/start.sh: a jump host (bastion) on loopback only.
Port $NTW_BASTION_PORT
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $key
PidFile $PID_BASTION
$(sshd_common_options)
AllowTcpForwarding yes
PermitOpen 127.0.0.1:$NTW_SSH_PORT
PermitTTY no
ForceCommand echo 'napari-tramway test bastion: it forwards to 127.0.0.1:$NTW_SSH_PORT only, no shell'
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 30
LogLevel INFO
EOF
    chmod 644 "$ETC/bastion_sshd_config"
    install -d -m 755 /run/sshd
    /usr/sbin/sshd -t -f "$ETC/bastion_sshd_config" || die "sshd -t rejected $ETC/bastion_sshd_config" bastion
}

setup_client_key() {
    local home ssh_dir
    home="$(getent passwd "$NTW_USER" | cut -d: -f6)"
    ssh_dir="$home/.ssh"
    [ -s "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "napari-tramway-tests" -f "$CLIENT_KEY"
    chmod 600 "$CLIENT_KEY"
    install -d -o "$NTW_USER" -g "$NTW_USER" -m 700 "$ssh_dir"
    local auth="$ssh_dir/authorized_keys" pub
    pub="$(cat "$CLIENT_KEY.pub")"
    touch "$auth"
    if ! grep -qxF "$pub" "$auth"; then
        printf '%s\n' "$pub" >> "$auth"
    fi
    chown "$NTW_USER:$NTW_USER" "$auth"
    chmod 600 "$auth"
    # The server's own key, written down: no trust on first use.
    local hostkey
    hostkey="$(awk '{print $1" "$2}' "$STATE/ssh/ssh_host_ed25519_key.pub")"
    printf '[127.0.0.1]:%s %s\n' "$NTW_SSH_PORT" "$hostkey" > "$KNOWN_HOSTS"
    chmod 644 "$KNOWN_HOSTS"
    # The bastion's key, in a file of its own: tests choose which hops are known.
    hostkey="$(awk '{print $1" "$2}' "$STATE/ssh/bastion_host_ed25519_key.pub")"
    printf '[127.0.0.1]:%s %s\n' "$NTW_BASTION_PORT" "$hostkey" > "$BASTION_KNOWN_HOSTS"
    chmod 644 "$BASTION_KNOWN_HOSTS"
    # An OpenSSH client config for both hosts (ssh -F: the jump host's ssh reads it too).
    cat > "$CLIENT_SSH_CONFIG" <<EOF
# Generated by napari-tramway tests/cluster/start.sh: ssh -F $CLIENT_SSH_CONFIG ntw-login-via-bastion
Host ntw-bastion
  HostName 127.0.0.1
  Port $NTW_BASTION_PORT
  UserKnownHostsFile $BASTION_KNOWN_HOSTS
Host ntw-login
  HostName 127.0.0.1
  Port $NTW_SSH_PORT
  UserKnownHostsFile $KNOWN_HOSTS
Host ntw-login-via-bastion
  HostName 127.0.0.1
  Port $NTW_SSH_PORT
  UserKnownHostsFile $KNOWN_HOSTS
  ProxyJump ntw-bastion
Host ntw-*
  User $NTW_USER
  IdentityFile $CLIENT_KEY
  IdentitiesOnly yes
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF
    chmod 644 "$CLIENT_SSH_CONFIG"
}

ssh_cmd() {   # ssh_cmd COMMAND...: run a command as the test user over the test sshd
    ssh -i "$CLIENT_KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
        -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes \
        -o ConnectTimeout=5 -o LogLevel=ERROR -p "$NTW_SSH_PORT" "$NTW_USER@127.0.0.1" "$@"
}

# wait_for TIMEOUT_S DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
    local timeout="$1"; shift 2   # $2: a description, for the reader
    local deadline
    deadline=$(( $(date +%s) + timeout ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.2
    done
}

# wait_daemon NAME TIMEOUT_S COMMAND...: like wait_for, but give up at once when the daemon has died
# (its pid file names no live process, or no pid file appeared within 15 s).
wait_daemon() {
    local name="$1" timeout="$2"; shift 2
    local pidfile t0
    pidfile="$(daemon_pidfile "$name")"
    t0=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        if [ -s "$pidfile" ]; then
            is_running "$name" || { log "$name died"; return 1; }
        elif [ $(( $(date +%s) - t0 )) -ge 15 ]; then
            log "$name wrote no pid file"; return 1
        fi
        [ $(( $(date +%s) - t0 )) -lt "$timeout" ] || return 1
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------------------
# Daemons
# ---------------------------------------------------------------------------------------------------

start_munged() {
    if is_running munged; then log "munged already running"; return; fi
    install -d -o munge -g munge -m 755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        install -d -o munge -g munge -m 700 /etc/munge
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    fi
    rm -f "$PID_MUNGED"
    runuser -u munge -- /usr/sbin/munged --pid-file="$PID_MUNGED" --log-file="$LOG_MUNGED" \
        || die "munged did not start" munged
    wait_daemon munged 15 munge_ok || die "munge does not answer" munged
    log "munged up (pid $(pid_of munged))"
}
munge_ok() { munge -n | unmunge >/dev/null; }

# shellcheck disable=SC2120
mysql_root() { mariadb --no-defaults -S "$MYSQL_SOCK" -u root "$@"; }

start_mariadb() {
    if is_running mariadb; then log "mariadb already running"; return; fi
    if [ ! -d "$MYSQL_DIR/data/mysql" ]; then
        log "initialising MariaDB in $MYSQL_DIR/data"
        rm -rf "$MYSQL_DIR/data"
        mariadb-install-db --no-defaults --user=mysql --datadir="$MYSQL_DIR/data" \
            --auth-root-authentication-method=socket --skip-test-db >> "$LOG_MARIADB" 2>&1 \
            || die "mariadb-install-db failed" mariadb
    fi
    rm -f "$PID_MARIADB"
    setsid -f /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MYSQL_DIR/data" \
        --socket="$MYSQL_SOCK" --pid-file="$PID_MARIADB" --log-error="$LOG_MARIADB" \
        --skip-networking --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 --skip-log-bin < /dev/null > /dev/null 2>&1
    wait_daemon mariadb 60 mysql_root -e 'SELECT 1' || die "MariaDB does not answer on $MYSQL_SOCK" mariadb
    wait_for 10 "mariadb pid file" is_running mariadb || die "MariaDB wrote no pid file" mariadb
    local pw
    pw="$(db_password)"
    # shellcheck disable=SC2119
    mysql_root <<EOF || die "could not create the slurm database user" mariadb
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
    log "mariadb up (pid $(pid_of mariadb), socket $MYSQL_SOCK, no TCP)"
}

start_slurmdbd() {
    if is_running slurmdbd; then log "slurmdbd already running"; return; fi
    rm -f "$PID_SLURMDBD"
    # slurmdbd.conf has no socket setting: the MariaDB client library takes it from MYSQL_UNIX_PORT.
    env SLURM_CONF="$SLURM_CONF_FILE" MYSQL_UNIX_PORT="$MYSQL_SOCK" /usr/sbin/slurmdbd \
        || die "slurmdbd did not start" slurmdbd mariadb
    wait_daemon slurmdbd 60 port_listening "$NTW_SLURMDBD_PORT" \
        || die "slurmdbd does not listen on 127.0.0.1:$NTW_SLURMDBD_PORT" slurmdbd mariadb
    wait_for 10 "slurmdbd pid file" is_running slurmdbd || die "slurmdbd wrote no pid file" slurmdbd
    log "slurmdbd up (pid $(pid_of slurmdbd))"
}
port_listening() { ss -H -ltn "sport = :$1" | grep -q .; }

start_slurmctld() {
    if is_running slurmctld; then log "slurmctld already running"; return; fi
    rm -f "$PID_SLURMCTLD"
    env SLURM_CONF="$SLURM_CONF_FILE" /usr/sbin/slurmctld -f "$SLURM_CONF_FILE" \
        || die "slurmctld did not start" slurmctld
    wait_daemon slurmctld 30 slurm_env scontrol ping || die "slurmctld does not answer" slurmctld
    wait_for 10 "slurmctld pid file" is_running slurmctld || die "slurmctld wrote no pid file" slurmctld
    log "slurmctld up (pid $(pid_of slurmctld))"
}

start_slurmd() {
    if is_running slurmd; then log "slurmd already running"; return; fi
    rm -f "$PID_SLURMD"
    env SLURM_CONF="$SLURM_CONF_FILE" /usr/sbin/slurmd -f "$SLURM_CONF_FILE" \
        || die "slurmd did not start" slurmd
    wait_for 10 "slurmd pid file" is_running slurmd || die "slurmd wrote no pid file" slurmd
    log "slurmd up (pid $(pid_of slurmd))"
}

start_sshd() {
    if is_running sshd; then log "sshd already running"; return; fi
    rm -f "$PID_SSHD"
    install -d -m 755 /run/sshd
    /usr/sbin/sshd -f "$ETC/sshd_config" -E "$LOG_SSHD" || die "sshd did not start" sshd
    wait_for 10 "sshd pid file" is_running sshd || die "sshd wrote no pid file" sshd
    wait_daemon sshd 15 ssh_cmd true || die "cannot log in as $NTW_USER over ssh" sshd
    log "sshd up (pid $(pid_of sshd), 127.0.0.1:$NTW_SSH_PORT)"
}

start_bastion() {
    if is_running bastion; then log "bastion already running"; return; fi
    rm -f "$PID_BASTION"
    install -d -m 755 /run/sshd
    /usr/sbin/sshd -f "$ETC/bastion_sshd_config" -E "$LOG_BASTION" || die "the bastion sshd did not start" bastion
    wait_for 10 "bastion pid file" is_running bastion || die "the bastion sshd wrote no pid file" bastion
    wait_daemon bastion 15 bastion_ok || die "cannot reach the login sshd through the bastion" bastion sshd
    log "bastion up (pid $(pid_of bastion), 127.0.0.1:$NTW_BASTION_PORT -> 127.0.0.1:$NTW_SSH_PORT)"
}
bastion_ok() {   # ssh to the login host through the bastion, both host keys verified
    ssh -F "$CLIENT_SSH_CONFIG" -o ConnectTimeout=5 ntw-login-via-bastion true
}

# ensure_accounts: the account, QoS and association of the test user (sacctmgr; idempotent). Needs
# slurmdbd and a registered cluster (slurmctld started once).
ensure_accounts() {
    local sam=(slurm_env sacctmgr -i -Q)
    if [ -z "$(slurm_env sacctmgr -n -P show qos "$NTW_QOS" format=name 2>/dev/null)" ]; then
        "${sam[@]}" add qos "$NTW_QOS" >/dev/null || die "sacctmgr: cannot add the QoS $NTW_QOS" slurmdbd
    fi
    if [ -z "$(slurm_env sacctmgr -n -P show account "$NTW_ACCOUNT" format=account 2>/dev/null)" ]; then
        "${sam[@]}" add account "$NTW_ACCOUNT" Cluster="$NTW_CLUSTER_NAME" Description="napari-tramway tests" \
            Organization=napari-tramway >/dev/null || die "sacctmgr: cannot add the account $NTW_ACCOUNT" slurmdbd
    fi
    if [ -z "$(slurm_env sacctmgr -n -P show assoc user="$NTW_USER" account="$NTW_ACCOUNT" format=user 2>/dev/null)" ]; then
        "${sam[@]}" add user "$NTW_USER" Account="$NTW_ACCOUNT" DefaultAccount="$NTW_ACCOUNT" \
            Cluster="$NTW_CLUSTER_NAME" >/dev/null || die "sacctmgr: cannot add the user $NTW_USER" slurmdbd
    fi
    "${sam[@]}" modify user "$NTW_USER" set QOS=normal,"$NTW_QOS" DefaultQOS=normal >/dev/null 2>&1 || true
}
accounts_ok() {   # slurmctld knows hpcuser's association (pushed by slurmdbd)
    slurm_env scontrol show assoc_mgr users="$NTW_USER" flags=assoc 2>/dev/null | grep -q "Account=$NTW_ACCOUNT"
}

node_idle() {
    local s
    s="$(slurm_env sinfo -h -N -o '%t' 2>/dev/null | head -n 1)"
    [ "$s" = idle ] || [ "$s" = mix ] || [ "$s" = alloc ]
}
accounting_ok() { timeout 10 env SLURM_CONF="$SLURM_CONF_FILE" sacct -n -X -a -S now-1minute -o JobID >/dev/null 2>&1; }
cluster_registered() { [ -n "$(slurm_env sacctmgr -n -P show cluster "$NTW_CLUSTER_NAME" format=cluster 2>/dev/null)" ]; }
