"""The settings of every environment kind, each described once: type, default, unit, range, help.

The environment registry (:mod:`.registry`) groups them by kind. From these descriptions come the
defaults of the site classes (:data:`SITE_DEFAULTS`), the field types of TOML site profiles, the
options of ``napari-tramway run`` and ``check-site``, the form of the napari environment panel,
and the table of ``docs/clusters.md``.
"""

from __future__ import annotations

from ..core.parameters import Parameter

# -- local processes ---------------------------------------------------------------------------

LOCAL_WORKERS = Parameter(
    "worker_count", "int", None,
    "Worker processes; unset: all cores but one (a negative number: all cores but that many).")
NICE = Parameter(
    "nice", "int", 5,
    "Scheduling priority added to the worker processes, so that napari stays responsive "
    "(0: the same as this process).", minimum=0, maximum=19, advanced=True)

# -- a Slurm site: where and how to connect -----------------------------------------------------

USERNAME = Parameter(
    "username", "str", None, "Login on the cluster; unset: ~/.ssh/config's User, or your local user name.")
HOSTNAME = Parameter(
    "hostname", "str", None,
    "The submit host (an alias of ~/.ssh/config works); unset: the site's hostname().")
PORT = Parameter(
    "port", "int", None, "SSH port; unset: the site's port(), else ~/.ssh/config's Port, else 22.",
    minimum=1, maximum=65535, advanced=True)
SCRATCH = Parameter(
    "scratch", "str", None,
    "Remote directory where run directories are made ('{username}' is replaced); unset: the site's "
    "scratch(username).")
IDENTITY_FILE = Parameter(
    "identity_file", "str", None,
    "A private key file; unset: the site's, else ~/.ssh/config, the SSH agent, then ~/.ssh/id_*.", advanced=True)
KNOWN_HOSTS = Parameter(
    "known_hosts", "str", None,
    "A known_hosts file to trust; unset: the site's, else ~/.ssh/known_hosts (napari-tramway's own "
    "known_hosts always counts).", advanced=True)
SSH_CONFIG = Parameter(
    "ssh_config", "str", None,
    "An SSH config file other than ~/.ssh/config (jump hosts are resolved with it too).", advanced=True)
ALLOW_AGENT = Parameter("allow_agent", "bool", True, "Try the keys of the SSH agent.", advanced=True)
LOOK_FOR_KEYS = Parameter("look_for_keys", "bool", True, "Try the keys ~/.ssh/id_*.", advanced=True)
CONNECT_TIMEOUT = Parameter(
    "connect_timeout", "float", 15.0, "Time allowed to connect and log in.", unit="s", minimum=0.0,
    exclusive_minimum=True, advanced=True)
COMMAND_TIMEOUT = Parameter(
    "command_timeout", "float", 120.0, "Time allowed to one remote command (an upload gets more).", unit="s",
    minimum=0.0, exclusive_minimum=True, advanced=True)
SSH_RETRIES = Parameter(
    "ssh_retries", "int", 3, "Reconnections tried when a command's connection drops.", minimum=0, advanced=True)
SSH_BACKOFF = Parameter(
    "ssh_backoff", "float", 1.0, "First wait before reconnecting (doubled at each try, at most 30 s).", unit="s",
    minimum=0.0, advanced=True)

# -- what runs there ----------------------------------------------------------------------------

REMOTE_DEPENDENCIES = Parameter(
    "remote_dependencies", "str", None,
    "One shell line run before anything needing the site's modules, e.g. 'module load apptainer'; "
    "unset: the site's.")
PYTHON = Parameter(
    "python", "str", None, "The Python interpreter (inside the container); unset: the site's, or python3.",
    advanced=True)
CONTAINER = Parameter(
    "container", "str", None,
    "The container image on the cluster (absolute, ~/..., or relative to the remote home); unset: the "
    "site's default_container().")
SINGULARITY_EXECUTABLE = Parameter(
    "singularity_executable", "str", None, "singularity or apptainer; unset: the site's.", advanced=True)
SINGULARITY_OPTIONS = Parameter(
    "singularity_options", "str", None,
    "Options inserted after 'exec', e.g. '-B /scratch' (bind your scratch and data); unset: the site's.",
    advanced=True)

# -- Slurm -----------------------------------------------------------------------------------------

SITE_WORKERS = Parameter(
    "worker_count", "int", None,
    "The most array tasks running at once (--array=0-N%worker_count); unset or 0: the site's, or no limit.",
    minimum=0)
PARTITION = Parameter("partition", "str", None, "Slurm partition (sbatch --partition); unset: the site's.")
TIME = Parameter("time", "str", None, "Time limit per task, e.g. 01:00:00 (sbatch --time); unset: the site's.")
MEM = Parameter("mem", "str", None, "Memory per task, e.g. 4G (sbatch --mem); unset: the site's.")
CPUS_PER_TASK = Parameter(
    "cpus_per_task", "int", None, "Cores per task (sbatch --cpus-per-task); unset: the site's.", minimum=1,
    advanced=True)
QOS = Parameter("qos", "str", None, "Quality of service (sbatch --qos); unset: the site's.", advanced=True)
ACCOUNT = Parameter("account", "str", None, "Account charged (sbatch --account); unset: the site's.", advanced=True)
SBATCH = (PARTITION, TIME, MEM, CPUS_PER_TASK, QOS, ACCOUNT)
#: settings that are sbatch options: gathered into ``sbatch_options`` (``cpus_per_task`` → ``cpus-per-task``)
SBATCH_KEYS = tuple(p.name for p in SBATCH)

# -- following a run -------------------------------------------------------------------------------

KEEP_REMOTE = Parameter(
    "keep_remote", "bool", False, "Keep the remote run directory once every result is collected.")
POLL_INTERVAL = Parameter(
    "poll_interval", "float", 5.0, "Time between two polls of the run (it backs off while nothing changes).",
    unit="s", minimum=0.0, exclusive_minimum=True)
MAX_POLL_INTERVAL = Parameter(
    "max_poll_interval", "float", 60.0, "Longest time between two polls.", unit="s", minimum=0.0,
    exclusive_minimum=True, advanced=True)
PREFLIGHT = Parameter(
    "preflight", "bool", True, "Check the site before submitting (and submit nothing if a check fails).",
    advanced=True)
RECONNECT_TIMEOUT = Parameter(
    "reconnect_timeout", "float", 3600.0,
    "How long a lost connection is retried before the client stops following (the jobs go on).", unit="s",
    minimum=0.0, advanced=True)
COMPLETION_GRACE = Parameter(
    "completion_grace", "float", 10.0,
    "Time a task may stay COMPLETED without its result before it counts as failed.", unit="s", minimum=0.0,
    advanced=True)
UNKNOWN_TIMEOUT = Parameter(
    "unknown_timeout", "float", 900.0,
    "Time a task unknown to Slurm (accounting off) may go without a result before it counts as lost.", unit="s",
    minimum=0.0, advanced=True)

#: every setting of a Slurm site without a container (``SlurmOverSSH``), in the order forms show them
SLURM_SITE = (USERNAME, HOSTNAME, SCRATCH, REMOTE_DEPENDENCIES, SITE_WORKERS, *SBATCH, KEEP_REMOTE, POLL_INTERVAL,
              PORT, PYTHON, IDENTITY_FILE, KNOWN_HOSTS, SSH_CONFIG, ALLOW_AGENT, LOOK_FOR_KEYS, CONNECT_TIMEOUT,
              COMMAND_TIMEOUT, SSH_RETRIES, SSH_BACKOFF, MAX_POLL_INTERVAL, PREFLIGHT, RECONNECT_TIMEOUT,
              COMPLETION_GRACE, UNKNOWN_TIMEOUT)
#: the same with a container (``SingularitySlurm`` and its presets)
CONTAINER_SITE = (*SLURM_SITE[:4], CONTAINER, *SLURM_SITE[4:], SINGULARITY_EXECUTABLE, SINGULARITY_OPTIONS)

#: settings that override a hook of the site class (``hostname=`` instead of ``hostname()``...)
HOOK_SETTINGS = ("hostname", "port", "scratch", "singularity_executable", "singularity_options",
                 "remote_dependencies", "python", "identity_file", "known_hosts")
#: callbacks a site asks through (never stored): host-key confirmation, passwords and one-time codes
CALLBACKS = ("confirm_host_key", "ask_secret")
#: the instance settings of a site and their defaults (hooks, sbatch keys and the user name aside)
SITE_DEFAULTS = {
    **{p.name: p.default for p in CONTAINER_SITE if p.name not in (*HOOK_SETTINGS, *SBATCH_KEYS, "username")},
    "sbatch_options": None,
    **dict.fromkeys(CALLBACKS),
}
