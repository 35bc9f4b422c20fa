#!/usr/bin/env bash
# Install everything the tests need (system packages, .venv with the testing extra, the test
# Slurm cluster + sshd on 127.0.0.1) and run the whole test suite under Xvfb.
# Extra arguments go to pytest. Exits non-zero on any failure and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
set -e
bash scripts/install-system.sh
bash scripts/venv.sh testing
bash tests/cluster/install.sh
.venv/bin/ruff check src tests benchmarks
set +e
CLUSTER_STARTED=0
if bash tests/cluster/start.sh; then
  CLUSTER_STARTED=1
else
  echo "ERROR: the test cluster did not start; cluster tests will fail" >&2
fi
stop_cluster() { if [ "$CLUSTER_STARTED" = 1 ]; then bash tests/cluster/stop.sh || true; fi; }
trap stop_cluster EXIT
export NTW_REQUIRE_CLUSTER=1
xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "ERROR: no test was collected" >&2
  exit 1
fi
exit "$rc"
