#!/usr/bin/env bash
# Install everything the napari-tramway test cluster needs (run as root; idempotent).
#
#   - Debian packages: munge, Slurm (slurmctld, slurmd, client, slurmdbd), MariaDB, OpenSSH server and
#     client, socat, bubblewrap, python3-venv. No daemon is started by apt (temporary policy-rc.d).
#   - The test user `hpcuser` (key login only), its scratch and container directories.
#   - The cluster-side Python: a venv from Debian's /usr/bin/python3 with numpy, scipy, pandas, shapely,
#     in a world-readable place (jobs run as hpcuser).
#   - The stand-in `singularity`/`apptainer` executables (NOT Singularity: see README.md), linked
#     into /usr/local/bin only where no real one exists, and a stand-in test image.
#
# Quick when everything is already there. Starts nothing: see start.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

require_root

t0=$(date +%s.%N)

# --- Debian packages ----------------------------------------------------------------------------
# openssh-client and socat: the ProxyCommand of the jump-host tests (ssh -W through the bastion, socat)
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server openssh-server openssh-client socat
          bubblewrap python3 python3-venv ca-certificates procps iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep apt from starting any daemon on install (no sshd on 0.0.0.0:22, no stray mariadb).
        printf '#!/bin/sh\n# napari-tramway tests/cluster/install.sh: no daemon starts on install\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    # shellcheck disable=SC2317
    cleanup_policy() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    cleanup_policy
    trap - EXIT
else
    log "Debian packages already installed"
fi

# --- the test user -------------------------------------------------------------------------------
if ! id -u "$NTW_USER" >/dev/null 2>&1; then
    log "creating user $NTW_USER"
    useradd --create-home --home-dir "/home/$NTW_USER" --shell /bin/bash "$NTW_USER"
fi
# A locked password field ('!') blocks even key login with UsePAM no; '*' allows keys, no password.
if [ "$(getent shadow "$NTW_USER" | cut -d: -f2)" != "*" ]; then
    usermod -p '*' "$NTW_USER"
fi
HPC_HOME="$(getent passwd "$NTW_USER" | cut -d: -f6)"
install -d -o "$NTW_USER" -g "$NTW_USER" -m 755 "$HPC_HOME"
install -d -o "$NTW_USER" -g "$NTW_USER" -m 700 "$HPC_HOME/.ssh"
install -d -o "$NTW_USER" -g "$NTW_USER" -m 755 "$HPC_HOME/scratch" "$HPC_HOME/containers"

# --- the cluster-side Python ---------------------------------------------------------------------
VENV="$NTW_OPT/venv"
WORKER_MODULES="numpy scipy pandas shapely"   # what a napari-tramway worker imports (docs/clusters.md)
install -d -m 755 "$NTW_OPT" "$NTW_OPT/bin"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import ${WORKER_MODULES// /, }" 2>/dev/null; then
    log "cluster venv ready: $VENV"
else
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import numpy, scipy, pandas' 2>/dev/null; then
        log "adding to the cluster venv $VENV: $WORKER_MODULES"
    else
        log "building the cluster venv $VENV from /usr/bin/python3 ($WORKER_MODULES)"
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
    fi
    # NTW_CLUSTER_PIP_EXTRA: more packages for the cluster side, space-separated (optional).
    # shellcheck disable=SC2086
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$VENV/bin/python" -m pip install -q --no-cache-dir $WORKER_MODULES ${NTW_CLUSTER_PIP_EXTRA:-}
    "$VENV/bin/python" -c "import ${WORKER_MODULES// /, }"
fi
chmod -R a+rX "$NTW_OPT"

# --- the stand-in container executables ----------------------------------------------------------
install -m 755 "$HERE/standin-singularity" "$NTW_OPT/bin/standin-singularity"
ln -sfn standin-singularity "$NTW_OPT/bin/singularity"
ln -sfn standin-singularity "$NTW_OPT/bin/apptainer"
for name in singularity apptainer; do
    link="/usr/local/bin/$name"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$NTW_OPT/bin/$name" ]; then
        continue                                   # ours already
    fi
    existing="$(command -v "$name" 2>/dev/null || true)"
    if [ -e "$link" ] || [ -n "$existing" ]; then
        log "a real $name exists (${existing:-$link}): the stand-in is NOT installed in its place"
        continue
    fi
    ln -s "$NTW_OPT/bin/$name" "$link"
    log "installed stand-in $link -> $NTW_OPT/bin/$name"
done

# --- the stand-in image --------------------------------------------------------------------------
IMAGE="$HPC_HOME/containers/napari-tramway-test.sif"
tmp_image="$(mktemp)"
cat > "$tmp_image" <<EOF
{
  "napari_tramway_standin_image": 1,
  "description": "Stand-in for a Singularity image, NOT a SIF file: the stand-in singularity executable of the napari-tramway test cluster runs the HOST's tools under bubblewrap, with this image's PATH (python3 -> the cluster venv).",
  "name": "napari-tramway-test",
  "python": "$VENV/bin/python3",
  "path": ["$VENV/bin"],
  "env": {"NTW_STANDIN_IMAGE": "napari-tramway-test"},
  "labels": {
    "org.label-schema.name": "napari-tramway-test",
    "org.napari-tramway.standin": "true",
    "org.napari-tramway.python": "$VENV/bin/python3"
  }
}
EOF
if ! cmp -s "$tmp_image" "$IMAGE" 2>/dev/null; then
    install -o "$NTW_USER" -g "$NTW_USER" -m 644 "$tmp_image" "$IMAGE"
    log "wrote stand-in image $IMAGE"
fi
rm -f "$tmp_image"

log "install done in $(elapsed "$t0") s"
