"""The shell commands a remote run sends to a Slurm submit host.

Everything a remote run does on the cluster is built here, as plain bash with every path quoted,
so that it can be read, tested and reviewed in one place:

- :func:`check_script` — the pre-flight checks (dependencies line, Slurm, container executable,
  image, the container's Python and the worker's packages, scratch), in ONE command;
- :func:`job_script` — the sbatch script of one array job (one task per unit);
- :func:`submit_script` — extract the uploaded bundle (read from stdin), verify its checksums and
  ``sbatch --parsable`` it, idempotently (a retried command never submits twice);
- :func:`poll_script` — ONE command per polling interval: ``sacct`` for the run's jobs,
  ``squeue`` (pending reasons; the fallback when accounting is off, with ``scontrol show job -o``
  when ``squeue`` fails), the new done/failed markers with their contents, and a tar of the new
  results for the client to download;
- :func:`cancel_script`, :func:`logs_script`, :func:`cleanup_script`.

Output sections start with ``@@`` lines, which neither Slurm nor JSON ever print at the start of
a line; reading them, and what Slurm's states mean, is :mod:`.states`.
"""

from __future__ import annotations

import re
import shlex

from ...pipeline.requirements import WORKER_PACKAGES, WORKER_PYTHON
from .arrays import ArrayJob, indices_spec  # noqa: F401  (indices_spec: the --array value, used here before)


def _job_ids(job_ids) -> list[str]:
    ids = [str(j) for j in job_ids]
    for j in ids:
        if not j.isdigit():
            raise ValueError(f"not a Slurm job id: {j!r}")
    return ids


# ---------------------------------------------------------------------------------------------
# Paths and options
# ---------------------------------------------------------------------------------------------

def remote_path(path: str) -> str:
    """A shell word for a remote path: ``~/x`` and relative paths are relative to ``$HOME``.

    (Kept here rather than in :mod:`.ssh` so that building and parsing commands never imports
    paramiko: ``napari-tramway sites``/``runs`` start without it.)
    """
    path = str(path)
    if path.startswith("/"):
        return shlex.quote(path)
    if path in ("~", ""):
        return '"$HOME"'
    if path.startswith("~/"):
        path = path[2:]
    return '"$HOME"/' + shlex.quote(path)


def deps_block(deps: str | None) -> str:
    """The site's dependencies line, run in the current shell (so ``module load`` works)."""
    deps = (deps or "").strip()
    return deps if deps else ":"


def _sbatch_options(options: dict) -> list[tuple[str, str | None]]:
    """Validated ``(option, value or None for a flag)``: ``-p``/``--partition``..."""
    out = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        key = str(key).strip().lstrip("-")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", key):
            raise ValueError(f"invalid sbatch option name {key!r}")
        key = key.replace("_", "-")
        flag = f"-{key}" if len(key) == 1 else f"--{key}"
        if value is True:
            out.append((flag, None))
            continue
        text = str(value)
        if "\n" in text or "\r" in text:
            raise ValueError(f"sbatch option {key!r}: the value must be on one line")
        out.append((flag, text))
    return out


def sbatch_lines(options: dict) -> list[str]:
    """``#SBATCH`` lines: one-letter keys as ``-p value``, longer as ``--key=value``."""
    out = []
    for flag, text in _sbatch_options(options):
        if text is not None:
            text = shlex.quote(text) if re.search(r"[\s'\"#]", text) else text
        out.append(f"#SBATCH {flag}" if text is None else
                   f"#SBATCH {flag} {text}" if len(flag) == 2 else f"#SBATCH {flag}={text}")
    return out


def sbatch_args(options: dict) -> str:
    """The same options as shell words for an ``sbatch`` command line (every value quoted)."""
    return " ".join(flag if text is None else f"{flag} {shlex.quote(text)}" if len(flag) == 2
                    else shlex.quote(f"{flag}={text}") for flag, text in _sbatch_options(options))


RESERVED_SBATCH = {"array", "a", "output", "o", "error", "e", "job-name", "J", "parsable", "chdir", "D", "wrap",
                   "dependency", "d", "kill-on-invalid-dep"}


# ---------------------------------------------------------------------------------------------
# Scripts
# ---------------------------------------------------------------------------------------------

def container_command(singularity: str | None, options: str, container: str | None, python: str) -> str:
    """``{singularity} exec -H "$HOME" {options} {container} {python}`` (or just ``{python}``)."""
    if not singularity:
        return python
    opts = f" {options.strip()}" if options and options.strip() else ""
    return f'{singularity} exec -H "$HOME"{opts} {remote_path(container)} {python}'


def worker_cache_path(scratch: str, sha256: str) -> str:
    """Where a run directory's worker zip is cached on the cluster (reused by later runs)."""
    return f"{scratch.rstrip('/')}/napari-tramway/.cache/worker-{sha256[:24]}.zip"


def check_script(*, deps: str, scratch: str, python: str, singularity: str | None = None,
                 singularity_options: str = "", container: str | None = None, timeout: int = 100,
                 worker_sha256: str | None = None, sbatch_options: dict | None = None) -> str:
    """ONE command running every pre-flight check; each prints ``@@CHECK name ok|fail|skip``
    followed by its message lines. Also prints ``@@HOME``, ``@@SCRATCH`` (absolute) and, when the
    worker code of this version is cached on the cluster, ``@@WORKER_CACHED``.

    The ``slurm`` check also runs ``sbatch --test-only`` with ``sbatch_options``: a partition,
    account, qos or time limit the cluster refuses is named before anything is uploaded (a test
    that times out is not counted as a failure)."""
    test_args = sbatch_args(sbatch_options or {})
    refused = f"sbatch refuses a job with the site's sbatch options ({test_args or 'none'}):"
    test_args = f"{test_args} " if test_args else ""
    packages = ", ".join(WORKER_PACKAGES)
    pycode = (f"import sys; v = sys.version_info; import {packages}\n"
              "print('Python %d.%d.%d' % tuple(v[:3]) + ''.join(', %s %s' % (m.__name__, m.__version__) "
              f"for m in ({packages},)))\n"
              # the napari-tramway the image (or the site's Python) has, if any (check-site compares);
              # not one in the current directory
              "import os\nsys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.getcwd()]\n"
              "try:\n    import napari_tramway as n\n    print('napari-tramway', n.__version__)\n"
              "except ImportError:\n    print('napari-tramway none')\n"
              "except Exception as e:\n    print('napari-tramway broken', type(e).__name__, e)\n"
              f"sys.exit(0 if v >= {tuple(WORKER_PYTHON)} else 3)")
    run_py = container_command(singularity, singularity_options, container, python)
    image = remote_path(container) if container else "''"
    lines = [
        "ntw_t=$(mktemp 2>/dev/null || echo /tmp/ntw-check.$$)",
        'echo "@@HOME $HOME"',
        "{",
        deps_block(deps),
        '} > "$ntw_t" 2>&1',
        "ntw_rc=$?",
        'if [ "$ntw_rc" -eq 0 ]; then echo "@@CHECK dependencies ok"; else echo "@@CHECK dependencies fail"; '
        'echo "the remote_dependencies line exited with status $ntw_rc"; fi',
        'tail -n 15 "$ntw_t"',
        'if ! command -v sbatch >/dev/null 2>&1 || ! command -v squeue >/dev/null 2>&1; then '
        'echo "@@CHECK slurm fail"; echo "sbatch/squeue not found on PATH after the dependencies line"; '
        f"elif ntw_sb=$(timeout 20 sbatch --test-only {test_args}--wrap=true 2>&1 < /dev/null); then "
        'echo "@@CHECK slurm ok"; echo "sbatch: $(command -v sbatch)"; printf "%s\\n" "$ntw_sb" | tail -n 1; '
        'elif [ "$?" -eq 124 ]; then echo "@@CHECK slurm ok"; echo "sbatch: $(command -v sbatch)"; '
        'echo "sbatch --test-only timed out: the sbatch options were not verified"; '
        'else echo "@@CHECK slurm fail"; '
        f"echo {shlex.quote(refused)}; "
        'printf "%s\\n" "$ntw_sb" | tail -n 5; fi',
        # the site's limits on arrays: larger runs are split into several array jobs
        'echo "@@SLURMCONFIG"',
        "timeout 20 scontrol show config 2>/dev/null < /dev/null | grep -E '^(MaxArraySize|SchedulerParameters) '",
    ]
    if singularity:
        lines += [
            f"if ntw_exe=$(command -v {singularity} 2>/dev/null); then echo '@@CHECK container-executable ok'; "
            f'echo "$ntw_exe"; ntw_has_exe=1; else echo "@@CHECK container-executable fail"; '
            f"echo {shlex.quote(f'{singularity}: command not found (after the dependencies line)')}; ntw_has_exe=0; fi",
            f"if [ -f {image} ] && [ -r {image} ]; then echo '@@CHECK container-image ok'; echo {image}; ntw_has_img=1; "
            f"elif [ -e {image} ]; then echo '@@CHECK container-image fail'; echo {image}' is not a readable file'; ntw_has_img=0; "
            f"else echo '@@CHECK container-image fail'; echo 'no such file: '{image}; ntw_has_img=0; fi",
            'if [ "$ntw_has_exe" = 1 ] && [ "$ntw_has_img" = 1 ]; then',
        ]
    lines += [
        f"ntw_out=$(timeout {int(timeout)} {run_py} -s -c {shlex.quote(pycode)} 2>&1 < /dev/null); ntw_rc=$?",
        'if [ "$ntw_rc" -eq 0 ]; then echo "@@CHECK python ok"; '
        f'elif [ "$ntw_rc" -eq 3 ]; then echo "@@CHECK python fail"; echo "Python {".".join(map(str, WORKER_PYTHON))} or newer is required"; '
        'elif [ "$ntw_rc" -eq 124 ]; then echo "@@CHECK python fail"; echo "timed out"; '
        f'else echo "@@CHECK python fail"; echo "cannot run the Python or import {packages} (status $ntw_rc)"; fi',
        'printf "%s\\n" "$ntw_out" | tail -n 8',
    ]
    if singularity:
        lines += ["else", "echo '@@CHECK python skip'; echo 'needs the container executable and image'", "fi"]
    sroot = remote_path(scratch)
    lines += [
        f"if mkdir -p {sroot}/napari-tramway 2>\"$ntw_t\" && ntw_d=$(mktemp -d {sroot}/napari-tramway/.check.XXXXXX 2>\"$ntw_t\") "
        '&& touch "$ntw_d/f" 2>"$ntw_t" && rm -rf "$ntw_d"; then echo "@@CHECK scratch ok"; '
        f"echo \"$(cd {sroot}/napari-tramway && pwd -P): $(df -Ph {sroot} 2>/dev/null | awk 'NR==2 {{print $4}}') free\"; "
        f'echo "@@SCRATCH $(cd {sroot}/napari-tramway && pwd -P)"; '
        "else echo '@@CHECK scratch fail'; echo 'cannot write in '" + sroot + "'/napari-tramway'; "
        'tail -n 3 "$ntw_t"; fi',
        'rm -f "$ntw_t"',
    ]
    if worker_sha256:
        cached = remote_path(worker_cache_path(scratch, worker_sha256))
        lines.append(f"if [ -s {cached} ]; then echo '@@WORKER_CACHED'; fi")
    lines.append('echo "@@END"')
    return "\n".join(lines) + "\n"


def job_script(*, run_id: str, stage: str, job_name: str, units_file: str, log_name: str,
               sbatch_options: dict, deps: str, python: str, singularity: str | None = None,
               singularity_options: str = "", container: str | None = None, version: str = "",
               environment: str = "", array: str | None = None) -> str:
    """The sbatch script of a stage's array jobs: one task per unit of ``units_file``.

    ``sbatch --array=TASKS job.sh OFFSET``: task ``i`` runs the unit ``OFFSET + i`` (arrays
    larger than the site allows are split into several array jobs, see :mod:`.arrays`).
    Paths are relative to the run directory, which is the submit directory (``sbatch`` runs there),
    so the script works wherever the scratch directory is. ``array``: only written in a comment.
    """
    bad = RESERVED_SBATCH.intersection(k.lstrip("-") for k in sbatch_options)
    if bad:
        raise ValueError(f"sbatch options {', '.join(sorted(bad))} are set by napari-tramway itself")
    head = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --output=logs/{log_name}",
        "#SBATCH --open-mode=append",
        *sbatch_lines(sbatch_options),
        f"# napari-tramway {version} run {run_id}, stage {stage}: one array task per unit of {units_file}",
        f"# submitted as: sbatch --array={array or 'TASKS'} {'THIS SCRIPT'} OFFSET (task i runs unit OFFSET + i)",
        "# (generated; the worker code is napari_tramway.zip in this directory, at the client's version)",
    ]
    body = [
        deps_block(deps),
        'cd "${SLURM_SUBMIT_DIR:?}" || exit 20',
        'export PYTHONPATH="$PWD/napari_tramway.zip"',
        'export SINGULARITYENV_PYTHONPATH="$PYTHONPATH" APPTAINERENV_PYTHONPATH="$PYTHONPATH"',
        "for v in OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS; do "
        'export "$v=${SLURM_CPUS_PER_TASK:-1}" "SINGULARITYENV_$v=${SLURM_CPUS_PER_TASK:-1}" '
        '"APPTAINERENV_$v=${SLURM_CPUS_PER_TASK:-1}"; done',
        'ntw_unit=$(( SLURM_ARRAY_TASK_ID + ${1:-0} ))',
        'echo "napari-tramway task $SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID (unit $ntw_unit) on $(hostname) at $(date +%FT%T)"',
        f"{container_command(singularity, singularity_options, container, python)} -s -m napari_tramway.pipeline.worker "
        f'array --store "$PWD/store" --units "$PWD"/{shlex.quote(units_file)} --task-id "$ntw_unit"',
        "ntw_rc=$?",
        'echo "napari-tramway task exit status $ntw_rc"',
        "exit $ntw_rc",
    ]
    return "\n".join(head + [""] + body) + "\n"


def _dependency(job: ArrayJob) -> str:
    """The ``--dependency`` value of an array job, as a shell word: the job ids of the array jobs it
    waits for are read from ``jobs/<name>.id`` when it is submitted."""
    parts = []
    for kind, names in (("afterok", job.after_ok), ("afterany", job.after_any)):
        if names:
            parts.append(kind + "".join(f":$(ntw_id_of {shlex.quote(n)})" for n in names))
    return f'"{",".join(parts)}"' if parts else "''"


def submit_script(*, run_dir: str, checksums: str, jobs: list[ArrayJob], deps: str,
                  worker_cache: str | None = None, worker_uploaded: bool = True,
                  remove_first: list[str] | None = None, existing: bool = False) -> str:
    """Extract the bundle from stdin into ``run_dir``, verify it, then ``sbatch --parsable`` each
    array job of ``jobs`` in order (``sbatch --array=TASKS [--dependency=...
    --kill-on-invalid-dep=yes] SCRIPT OFFSET``): a stage waits for the one before without the client.

    Idempotent: each job id is kept in ``jobs/<name>.id`` and a retried command (after a dropped
    connection) prints it instead of submitting again. Prints ``@@RUNDIR`` and ``@@JOB name id``
    per array job. ``worker_cache``: the worker zip is taken from there when not uploaded, and
    stored there when it is (its checksum is verified either way). ``remove_first``: files
    (relative to the run directory) removed before the first ``sbatch``, e.g. the old markers of
    resubmitted units. ``existing``: the run directory must be there already (a resubmission);
    ``@@NORUN`` if not.

    When it fails (disk quota while extracting, damaged upload, sbatch refusing a job...), the
    array jobs it already submitted are cancelled (``@@SCANCELLED ids``) and a run directory it
    created is removed (``@@CLEANED``), so that a failed submission leaves nothing behind.
    """
    q = shlex.quote
    if not jobs:
        raise ValueError("nothing to submit")
    cache = remote_path(worker_cache) if worker_cache else None
    worker = []
    if cache and not worker_uploaded:
        worker = [f'cp -f -- {cache} napari_tramway.zip 2>/dev/null || ntw_fail 26 "the cached worker code '
                  f'{worker_cache} is gone"']
    keep = []
    if cache and worker_uploaded:
        keep = [f'mkdir -p -- "$(dirname -- {cache})" && cp -f napari_tramway.zip {cache}.$$ && '
                f"mv -f {cache}.$$ {cache} || true",
                # keep the 5 most recent versions
                f'(cd -- "$(dirname -- {cache})" && ls -1t worker-*.zip 2>/dev/null | tail -n +6 | '
                "xargs -r rm -f --) || true"]
    names = " ".join(q(j.name) for j in jobs)
    removals = ([f"[ -s jobs/{q(jobs[0].name)}.id ] || rm -f -- {' '.join(q(p) for p in remove_first)}"]
                if remove_first else [])
    submits = [f"ntw_sbatch {q(j.name)} {q(j.script)} {q(j.array)} {int(j.offset)} {_dependency(j)}" for j in jobs]
    return "\n".join([
        f"ntw_run={remote_path(run_dir)}",
        f"ntw_names={q(names)}",
        '[ -e "$ntw_run" ] && ntw_new=0 || ntw_new=1',
        *(['[ "$ntw_new" = 0 ] || { echo "@@NORUN"; echo "@@ERROR the run directory $ntw_run is gone"; exit 27; }']
          if existing else []),
        "ntw_id_of() { cat -- \"jobs/$1.id\" 2>/dev/null; }",
        "ntw_fail() {",
        '  echo "@@ERROR $2"',
        '  ntw_ids=""; for ntw_n in $ntw_names; do ntw_ids="$ntw_ids $(ntw_id_of "$ntw_n")"; done',
        '  if [ -n "${ntw_ids// /}" ]; then scancel $ntw_ids >/dev/null 2>&1; echo "@@SCANCELLED$ntw_ids"; fi',
        '  if [ "$ntw_new" = 1 ]; then cd / && rm -rf -- "$ntw_run" && echo "@@CLEANED"; fi',
        '  exit "$1"',
        "}",
        "ntw_sbatch() {  # NAME SCRIPT ARRAY OFFSET DEPENDENCY",
        '  if [ -s "jobs/$1.id" ]; then echo "@@JOB $1 $(ntw_id_of "$1")"; return 0; fi',
        '  if [ -n "$5" ]; then',
        '    ntw_out=$(sbatch --parsable --array="$3" --dependency="$5" --kill-on-invalid-dep=yes "$2" "$4" '
        "2>jobs/.sbatch.err < /dev/null)",
        '  else ntw_out=$(sbatch --parsable --array="$3" "$2" "$4" 2>jobs/.sbatch.err < /dev/null); fi',
        "  ntw_rc=$?",
        '  if [ "$ntw_rc" -ne 0 ]; then ntw_fail 24 "sbatch failed (status $ntw_rc): '
        '$(tail -n 5 jobs/.sbatch.err | tr \"\\n\" \" \")"; fi',
        '  ntw_id=$(printf "%s\\n" "$ntw_out" | grep -E "^[0-9]+(;.*)?$" | tail -n 1)',
        "  ntw_id=${ntw_id%%;*}",
        '  [ -n "$ntw_id" ] || ntw_fail 25 "sbatch printed no job id: $ntw_out"',
        '  printf "%s\\n" "$ntw_id" > "jobs/$1.id.tmp" && mv -f "jobs/$1.id.tmp" "jobs/$1.id"',
        '  echo "@@JOB $1 $ntw_id"',
        "}",
        'mkdir -p -- "$ntw_run" && cd -- "$ntw_run" || ntw_fail 21 "cannot create $ntw_run"',
        'echo "@@RUNDIR $(pwd -P)"',
        'if ! ntw_err=$(tar -xzf - 2>&1); then ntw_fail 22 "extracting the upload failed: $ntw_err"; fi',
        *worker,
        f'if ! ntw_err=$(sha256sum -c --quiet {q(checksums)} 2>&1); then ntw_fail 23 "upload damaged: $ntw_err"; fi',
        *keep,
        "mkdir -p logs jobs",
        *removals,
        "{",
        deps_block(deps),
        "} >/dev/null 2>&1",
        *submits,
        'echo "@@SUBMITTED"',
    ]) + "\n"


def poll_script(*, run_dir: str, job_ids, deps: str, use_sacct: bool = True, timeout: int = 15,
                marker_limit: int = 262144) -> str:
    """ONE command per polling interval (the seen markers come on stdin, ``path<TAB>mtime`` lines)."""
    ids = _job_ids(job_ids)
    idlist = ",".join(ids)
    lines = [
        "ntw_seen=$(cat)",
        "{",
        deps_block(deps),
        "} >/dev/null 2>&1",
        f'cd -- {remote_path(run_dir)} 2>/dev/null || {{ echo "@@NORUN"; echo "@@END"; exit 0; }}',
    ]
    if ids:
        if use_sacct:
            lines += [
                'echo "@@SACCT"',
                f"timeout {int(timeout)} sacct -n -P -X -j {idlist} -o JobID,State,Reason,ExitCode,NodeList 2>&1 < /dev/null",
                'echo "@@RC $?"',
            ]
        lines += [
            'echo "@@SQUEUE"',
            f"timeout {int(timeout)} squeue -h -r -t all -j {idlist} -o '%i|%T|%r|%N' 2>&1 < /dev/null",
            "ntw_rc=$?",
            'echo "@@RC $ntw_rc"',
            'if [ "$ntw_rc" -ne 0 ]; then',
            'echo "@@SCONTROL"',
            f"for ntw_j in {' '.join(ids)}; do timeout {int(timeout)} scontrol show job -o \"$ntw_j\" 2>/dev/null < /dev/null; done",
            "fi",
        ]
    lines += [
        "mkdir -p .collect && rm -f .collect/*.tar",
        'ntw_t=$(mktemp .collect/poll.XXXXXX) || { echo "@@END"; exit 0; }',
        "cd store 2>/dev/null || { rm -f \"$ntw_t\"; echo '@@END'; exit 0; }",
        'ntw_t="../$ntw_t"',
        r"find units tessellations -type f \( -name '*.done.json' -o -name '*.failed.json' \) -printf '%p\t%T@\n' 2>/dev/null"
        ' | LC_ALL=C sort > "$ntw_t.all"',
        'printf "%s\\n" "$ntw_seen" | LC_ALL=C sort > "$ntw_t.seen"',
        'LC_ALL=C comm -23 "$ntw_t.all" "$ntw_t.seen" > "$ntw_t.new"',
        ': > "$ntw_t.list"',
        "while IFS=$'\\t' read -r ntw_f ntw_m; do",
        '  [ -n "$ntw_f" ] || continue',
        "  printf '@@FILE %s\\t%s\\n' \"$ntw_f\" \"$ntw_m\"",
        f'  head -c {int(marker_limit)} -- "$ntw_f"',
        "  printf '\\n@@ENDFILE\\n'",
        '  case "$ntw_f" in *.done.json) ntw_r="${ntw_f%.done.json}.ntw"; [ -f "$ntw_r" ] && printf "%s\\n" "$ntw_r" >> "$ntw_t.list";; esac',
        'done < "$ntw_t.new"',
        'if [ -s "$ntw_t.list" ]; then',
        '  if tar -cf ../.collect/batch.tar -T "$ntw_t.list" 2>"$ntw_t.err"; then',
        '    echo "@@TAR .collect/batch.tar $(wc -c < ../.collect/batch.tar)"',
        '  else echo "@@TARERR $(tail -n 3 "$ntw_t.err" | tr "\\n" " ")"; fi',
        "fi",
        'rm -f "$ntw_t" "$ntw_t.all" "$ntw_t.seen" "$ntw_t.new" "$ntw_t.list" "$ntw_t.err"',
        'echo "@@END"',
    ]
    return "\n".join(lines) + "\n"


def cancel_script(*, job_ids, deps: str, wait: float = 60.0) -> str:
    """``scancel`` the run's jobs, then wait until ``squeue`` shows none of them (``@@CLEAR``)."""
    ids = _job_ids(job_ids)
    if not ids:
        return 'echo "@@CLEAR"\n'
    idlist = ",".join(ids)
    n = max(1, int(wait / 0.5))
    return "\n".join([
        "{",
        deps_block(deps),
        "} >/dev/null 2>&1",
        f"scancel {' '.join(ids)} 2>&1",
        'echo "@@RC $?"',
        f"for ntw_i in $(seq 1 {n}); do",
        f"  ntw_left=$(squeue -h -r -j {idlist} -o '%i|%T' 2>&1); ntw_rc=$?",
        '  if [ "$ntw_rc" -eq 0 ] && [ -z "$ntw_left" ]; then echo "@@CLEAR"; break; fi',
        '  case "$ntw_left" in *"Invalid job id"*) echo "@@CLEAR"; break;; esac',
        "  sleep 0.5",
        "done",
        'echo "@@LEFT"',
        'printf "%s\\n" "$ntw_left" | head -n 20',
        'echo "@@END"',
    ]) + "\n"


def logs_script(*, run_dir: str, logs: list[str], lines: int = 40) -> str:
    """The tail of each task log (the worker's event lines left out)."""
    out = [f'cd -- {remote_path(run_dir)} 2>/dev/null || {{ echo "@@NORUN"; exit 0; }}']
    for name in logs:
        q = shlex.quote(name)
        out.append(f"echo '@@LOG '{q}; grep -v '^NTW-EVENT ' -- {q} 2>/dev/null | tail -n {int(lines)}; "
                   "echo '@@ENDLOG'")
    out.append('echo "@@END"')
    return "\n".join(out) + "\n"


def cleanup_script(run_dir: str) -> str:
    """``rm -rf`` the run directory, refusing anything that is not a napari-tramway run directory."""
    if not re.search(r"/napari-tramway/\d{8}-\d{6}-[0-9a-f]{6}/?$", run_dir):
        raise ValueError(f"refusing to remove {run_dir!r}: not a napari-tramway run directory")
    return f"rm -rf -- {remote_path(run_dir)} && echo '@@REMOVED'\n"
