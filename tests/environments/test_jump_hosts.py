"""Clusters behind a bastion, on the REAL test cluster: ``ProxyJump`` and ``ProxyCommand`` of an SSH
config through a second sshd (the bastion, 127.0.0.1:2223, its own host key, forwarding to the login
sshd only); the host keys of both hops are verified, a proxy that fails says why in one line, and a
site reaches the cluster through either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cluster_helpers import make_spec

from napari_tramway import Analysis
from napari_tramway.environments.ssh import (
    HostKeyMismatch,
    HostKeyRefused,
    SSHError,
    SSHSession,
    SSHTarget,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def ssh_config(tmp_path, cluster, bastion_known_hosts=None, login_port=None, proxy="jump") -> Path:
    """An SSH config with the bastion and the login host reached through it (``proxy``: ``jump``,
    ``ssh`` for ``ProxyCommand ssh -W``, ``socat`` for ``ProxyCommand socat``)."""
    key, user = cluster["NTW_SSH_KEY"], cluster["NTW_SSH_USER"]
    kh = bastion_known_hosts or cluster["NTW_BASTION_KNOWN_HOSTS"]
    via = {
        "jump": "ProxyJump ntw-bastion",
        "ssh": (f"ProxyCommand ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
                f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null "
                f"-p {cluster['NTW_BASTION_PORT']} -W %h:%p {user}@127.0.0.1"),
        "socat": "ProxyCommand socat - TCP:%h:%p",
    }[proxy]
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"""Host ntw-bastion
  HostName 127.0.0.1
  Port {cluster['NTW_BASTION_PORT']}
  User {user}
  IdentityFile {key}
Host ntw-login
  HostName 127.0.0.1
  Port {login_port or cluster['NTW_SSH_PORT']}
  User {user}
  IdentityFile {key}
  {via}
""")
    return cfg


def session(cfg, known_hosts, **kw) -> SSHSession:
    return SSHSession(SSHTarget.resolve("ntw-login", config_path=str(cfg)), known_hosts_files=[str(p) for p in known_hosts],
                      allow_agent=False, look_for_keys=False, max_retries=0, **kw)


def bastion_logins(cluster) -> int:
    log = Path(cluster["NTW_CLUSTER_DIR"]) / "log" / "bastion.log"
    return log.read_text().count("Accepted publickey")


def gone(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_proxyjump_through_the_bastion_verifies_both_host_keys(site_setup, tmp_path):
    cluster = site_setup
    cfg = ssh_config(tmp_path, cluster)
    both = [cluster["NTW_KNOWN_HOSTS"], cluster["NTW_BASTION_KNOWN_HOSTS"], tmp_path / "own"]
    n = bastion_logins(cluster)
    with session(cfg, both) as s:
        assert s.run("echo $USER through")[1].strip() == "hpcuser through"
        assert s._jump.target.port == int(cluster["NTW_BASTION_PORT"])
    assert bastion_logins(cluster) == n + 1  # the connection went through the bastion
    # the bastion's key unknown (nobody to ask): refused, naming the bastion
    with pytest.raises(HostKeyRefused, match=rf"\[127.0.0.1\]:{cluster['NTW_BASTION_PORT']}"):
        session(cfg, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own"]).connect()
    # the login host's key wrong behind a known bastion: refused, with both fingerprints
    wrong = tmp_path / "wrong_known_hosts"
    bastion_key = Path(cluster["NTW_BASTION_KNOWN_HOSTS"]).read_text().split()[1:]
    wrong.write_text(f"[127.0.0.1]:{cluster['NTW_SSH_PORT']} {' '.join(bastion_key)}\n")
    with pytest.raises(HostKeyMismatch, match=rf"\[127.0.0.1\]:{cluster['NTW_SSH_PORT']}"):
        session(cfg, [wrong, cluster["NTW_BASTION_KNOWN_HOSTS"], tmp_path / "own"]).connect()
    assert not (tmp_path / "own").exists()


def test_proxycommand_through_the_bastion(site_setup, tmp_path):
    """``ProxyCommand ssh -W %h:%p bastion``: the bastion's key is checked by that ssh, the login
    host's here; the command is stopped (by its pid) when the session closes."""
    cluster = site_setup
    cfg = ssh_config(tmp_path, cluster, proxy="ssh")
    target = SSHTarget.resolve("ntw-login", config_path=str(cfg))
    assert target.proxy_jump is None and f"-W 127.0.0.1:{cluster['NTW_SSH_PORT']}" in target.proxy_command
    n = bastion_logins(cluster)
    s = session(cfg, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own"])
    with s:
        assert s.run("echo through the proxy")[1].strip() == "through the proxy"
        proxy = s._transport.sock
        assert proxy.process.poll() is None
    assert gone(proxy.process.pid) and proxy.process.returncode is not None
    assert bastion_logins(cluster) == n + 1
    # the login host's key is still verified here
    with pytest.raises(HostKeyRefused, match=rf"\[127.0.0.1\]:{cluster['NTW_SSH_PORT']}"):
        session(cfg, [tmp_path / "empty_known_hosts", tmp_path / "own"]).connect()


def test_a_failing_proxycommand_says_why_in_one_line(site_setup, tmp_path):
    cluster = site_setup
    (tmp_path / "empty").write_text("")
    cfg = ssh_config(tmp_path, cluster, bastion_known_hosts=tmp_path / "empty", proxy="ssh")
    s = session(cfg, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own"], connect_timeout=10)
    with pytest.raises(SSHError) as err:
        s.connect()
    text = str(err.value)
    assert "\n" not in text and "Host key verification failed." in text and "exited with status 255" in text
    assert text.startswith(f"cannot reach 127.0.0.1 port {cluster['NTW_SSH_PORT']} (as hpcuser): the ProxyCommand")
    # a proxy to a closed port (socat): its own message
    cfg = ssh_config(tmp_path, cluster, login_port=1, proxy="socat")
    with pytest.raises(SSHError, match="Connection refused"):
        session(cfg, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own"], connect_timeout=10).connect()


@pytest.mark.parametrize("proxy", ["jump", "ssh"])
def test_a_site_behind_the_bastion_checks_and_runs(site_setup, site, data_files, tmp_path, recorder, proxy):
    """A site whose hostname is an alias of its ssh_config reached through the bastion: every check
    passes and a unit runs and comes back."""
    cluster = site_setup
    cfg = ssh_config(tmp_path, cluster, proxy=proxy)
    known = tmp_path / "known_hosts"
    known.write_text(Path(cluster["NTW_KNOWN_HOSTS"]).read_text() + Path(cluster["NTW_BASTION_KNOWN_HOSTS"]).read_text())
    env = site(hostname="ntw-login", ssh_config=str(cfg), known_hosts=str(known))
    results = env.check()
    assert all(r.ok for r in results), [r.line() for r in results]
    summary = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)]), store=tmp_path / "store").run(
        env=env, events=recorder)
    assert summary.ok and summary.count("done") == 1, summary.errors
