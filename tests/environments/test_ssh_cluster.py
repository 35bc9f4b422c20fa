"""The SSH layer against the test cluster's real sshd (127.0.0.1:2222): host keys, commands,
files, reconnection."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from napari_tramway.environments.ssh import (
    HostKeyMismatch,
    HostKeyRefused,
    SSHError,
    SSHSession,
    SSHTarget,
    fingerprint,
    safe_local_path,
)

pytestmark = pytest.mark.cluster


def server_key(cluster) -> paramiko.PKey:
    text = Path(cluster["NTW_SSH_HOST_KEY_PUB"]).read_text().split()
    return paramiko.PKey.from_type_string(text[0], __import__("base64").b64decode(text[1]))


def session(cluster, known_hosts, **kw) -> SSHSession:
    t = SSHTarget(cluster["NTW_SSH_HOST"], int(cluster["NTW_SSH_PORT"]), cluster["NTW_SSH_USER"],
                  [cluster["NTW_SSH_KEY"]])
    kw.setdefault("allow_agent", False)
    kw.setdefault("look_for_keys", False)
    return SSHSession(t, known_hosts_files=[str(p) for p in known_hosts], **kw)


def test_commands_files_and_counters(cluster, tmp_path):
    s = session(cluster, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own_known_hosts"])
    with s:
        status, out, _ = s.run("echo $USER; echo $SLURM_CONF")
        assert status == 0 and out.split()[0] == "hpcuser"
        status, out, _ = s.run("cat | wc -c", stdin=b"x" * 1000)
        assert out.strip() == "1000"
        assert s.bytes_uploaded == 1000
        with pytest.raises(SSHError, match="status 3"):
            s.run("echo oops >&2; exit 3")
        src = tmp_path / "a b.txt"
        src.write_text("hello")
        s.put(src, "~/scratch/ntw-ssh-test.txt")
        s.get("~/scratch/ntw-ssh-test.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "hello"
        s.run("rm -f ~/scratch/ntw-ssh-test.txt")
        assert s.round_trips >= 6
    assert not (tmp_path / "own_known_hosts").exists()  # nothing to remember: the key was known


def test_wrong_host_key_is_refused_with_fingerprints(cluster, tmp_path):
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kt, blob = (tmp_path / "other.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{cluster['NTW_SSH_PORT']} {kt} {blob}\n")
    asked = []
    s = session(cluster, [kh, tmp_path / "own"], confirm_host_key=lambda *a: asked.append(a) or True)
    with pytest.raises(HostKeyMismatch) as err:
        s.connect()
    real_fp = fingerprint(server_key(cluster))
    assert real_fp in str(err.value) and "MISMATCH" in str(err.value)
    assert not asked  # a changed key is never offered for confirmation
    assert not (tmp_path / "own").exists()


def test_unknown_host_key_refused_then_accepted_and_remembered(cluster, tmp_path):
    own = tmp_path / "own_known_hosts"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    real_fp = fingerprint(server_key(cluster))
    asked = []

    s = session(cluster, [empty, own], confirm_host_key=lambda host, kt, fp: asked.append((host, kt, fp)) or False)
    with pytest.raises(HostKeyRefused) as err:
        s.connect()
    assert real_fp in str(err.value)
    assert asked == [(f"[127.0.0.1]:{cluster['NTW_SSH_PORT']}", "ssh-ed25519", real_fp)]
    assert not own.exists()

    s = session(cluster, [empty, own], confirm_host_key=lambda host, kt, fp: fp == real_fp)
    with s:
        assert s.run("true")[0] == 0
    assert f"[127.0.0.1]:{cluster['NTW_SSH_PORT']} ssh-ed25519" in own.read_text()

    s = session(cluster, [empty, own], confirm_host_key=None)  # remembered: no question
    with s:
        assert s.run("true")[0] == 0

    s = session(cluster, [empty, tmp_path / "other_own"], confirm_host_key=None)  # unknown, nobody to ask
    with pytest.raises(HostKeyRefused):
        s.connect()


def test_session_reconnects_after_sshd_restart(cluster, daemons, tmp_path):
    s = session(cluster, [cluster["NTW_KNOWN_HOSTS"], tmp_path / "own"], backoff=0.5, max_retries=8)
    with s:
        assert s.run("echo before")[1].strip() == "before"
        daemons.stop("sshd")
        t0 = time.time()
        import threading

        threading.Timer(2.0, lambda: daemons.start("sshd")).start()
        assert s.run("echo after")[1].strip() == "after"
        assert time.time() - t0 >= 1.5
        assert s.reconnects >= 1


def test_safe_local_path_refuses_escapes(tmp_path):
    base = tmp_path / "store"
    base.mkdir()
    assert safe_local_path(base, "units/c/roi000.ntw") == (base / "units/c/roi000.ntw").resolve()
    for bad in ("../x", "/etc/passwd", "units/../../x", "~/x", "..\\x"):
        with pytest.raises(SSHError):
            safe_local_path(base, bad)
    (base / "link").symlink_to(tmp_path)
    with pytest.raises(SSHError):
        safe_local_path(base, "link/escape.ntw")


def test_proxyjump_chain_from_the_ssh_config(cluster, tmp_path, site):
    """``ProxyJump a,b`` goes through a then b, each hop resolved with the same SSH config file
    (not only ``~/.ssh/config``) and the same host-key files; a site uses it through ``ssh_config``."""
    cfg = tmp_path / "ssh_config"
    host = (f"  HostName {cluster['NTW_SSH_HOST']}\n  Port {cluster['NTW_SSH_PORT']}\n"
            f"  User {cluster['NTW_SSH_USER']}\n  IdentityFile {cluster['NTW_SSH_KEY']}\n")
    cfg.write_text(f"Host ntw-bastion\n{host}\nHost ntw-login\n{host}  ProxyJump ntw-bastion,ntw-bastion\n")
    t = SSHTarget.resolve("ntw-login", config_path=str(cfg))
    assert t.proxy_jump == "ntw-bastion,ntw-bastion" and t.config_path == str(cfg)
    s = SSHSession(t, known_hosts_files=[cluster["NTW_KNOWN_HOSTS"], str(tmp_path / "own")],
                   allow_agent=False, look_for_keys=False)
    with s:
        assert s.run("echo through")[1].strip() == "through"
        assert s._jump is not None and s._jump._jump is not None and s._jump._jump._jump is None
    assert s._jump is None  # closed with the session
    env = site(hostname="ntw-login", ssh_config=str(cfg))
    results = env.check()
    assert all(r.ok for r in results), [r.line() for r in results]
    assert env.session()._jump is not None


def test_revoked_host_key_is_refused_without_asking(tmp_path):
    """``@revoked`` lines of known_hosts (which paramiko skips) are honoured: never offered for
    confirmation, never connected to."""
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    kt, blob = (tmp_path / "k.pub").read_text().split()[:2]
    key = paramiko.PKey.from_type_string(kt, __import__("base64").b64decode(blob))
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@revoked * {kt} {blob}\n")
    asked = []
    s = SSHSession(SSHTarget("h.example", 22, "u"), known_hosts_files=[str(kh), str(tmp_path / "own")],
                   confirm_host_key=lambda *a: asked.append(a) or True)
    with pytest.raises(HostKeyRefused, match="@revoked") as err:
        s._check_host_key(key)
    assert fingerprint(key) in str(err.value) and not asked and not (tmp_path / "own").exists()
