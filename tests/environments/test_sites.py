"""Site adapters, presets, TOML profiles, entry points and user files (no cluster needed)."""

from __future__ import annotations

import textwrap

import pytest

from napari_tramway.environments import sites
from napari_tramway.environments.slurm import commands as rs

MAESTRO_EXAMPLE = '''
from napari_tramway.environments import SingularitySlurm
import os.path

class Maestro(SingularitySlurm):
    @classmethod
    def hostname(cls):
        return 'maestro.pasteur.fr'

    @classmethod
    def scratch(cls, username):
        return os.path.join('/pasteur/sonic/scratch/users', username)

    @classmethod
    def singularity_options(cls):
        return '-B /pasteur'

    @classmethod
    def remote_dependencies(cls):
        return 'module load singularity'
'''


def job_script_of(env, n=10):
    sing, opts, image = env.container_parts()
    return rs.job_script(run_id="20250101-000000-abcdef", stage="tessellate_and_infer", job_name="ntw-x",
                         array=rs.indices_spec(None, n, env.worker_count), units_file="units-x.json",
                         log_name="x-%A_%a.out", sbatch_options=env.sbatch_options, deps=env.deps(),
                         python=env.interpreter(), singularity=sing, singularity_options=opts, container=image)


def test_maestro_example_works_exactly_as_written(tmp_path, monkeypatch):
    f = tmp_path / "mysites.py"
    f.write_text(MAESTRO_EXAMPLE)
    for name in (f"{f}:Maestro", "mysites:Maestro"):
        if name.startswith("mysites"):
            monkeypatch.syspath_prepend(str(tmp_path))
        env = sites.make_environment(name, dict(username="jdoe", container="/pasteur/containers/ntw.sif"))
        assert env.host == "maestro.pasteur.fr"
        assert env.scratch_root() == "/pasteur/sonic/scratch/users/jdoe"
        assert env.deps() == "module load singularity"
        assert env.container_parts() == ("singularity", "-B /pasteur", "/pasteur/containers/ntw.sif")
        script = job_script_of(env)
        # {remote_dependencies}; {singularity} exec -H $HOME {singularity_options} {container} {python} -s ...
        assert "module load singularity\n" in script
        assert ('singularity exec -H "$HOME" -B /pasteur /pasteur/containers/ntw.sif python3 -s -m '
                'napari_tramway.pipeline.worker array') in script
        assert script.index("module load singularity") < script.index("singularity exec")
        for var in ("PYTHONPATH=", "SINGULARITYENV_PYTHONPATH=", "APPTAINERENV_PYTHONPATH="):
            assert var in script


def test_preset_maestro_matches_the_docs_example():
    env = sites.make_environment("Maestro", dict(username="jdoe"))
    assert type(env).__name__ == "Maestro"
    assert env.host == "maestro.pasteur.fr"
    assert env.scratch_root() == "/pasteur/sonic/scratch/users/jdoe"
    assert env.container_parts()[:2] == ("singularity", "-B /pasteur")
    assert env.deps() == "module load singularity"
    assert env._hook("port") == 22 and env.interpreter() == "python3"
    assert env.sbatch_options == {} and env.worker_count is None


def test_singularity_slurm_is_abstract_and_says_what_is_missing():
    from napari_tramway.environments import SingularitySlurm, SlurmOverSSH
    from napari_tramway.environments.slurm import SiteError

    for cls in (SingularitySlurm, SlurmOverSSH):
        with pytest.raises(SiteError) as err:
            cls()
        assert "hostname()" in str(err.value) and "scratch(username)" in str(err.value)
    with pytest.raises(SiteError, match="SingularitySlurm"):
        sites.make_environment("SingularitySlurm")

    class OnlyHost(SingularitySlurm):
        @classmethod
        def hostname(cls):
            return "h"

    with pytest.raises(SiteError) as err:
        OnlyHost()
    assert "scratch(username)" in str(err.value) and "hostname()" not in str(err.value)
    # hooks given as instance settings complete an abstract adapter
    env = SingularitySlurm(username="u", hostname="h.example", scratch="/scratch/{username}")
    assert env.host == "h.example" and env.scratch_root() == "/scratch/u"


def test_slurm_over_ssh_has_no_container():
    from napari_tramway.environments import SlurmOverSSH

    class Plain(SlurmOverSSH):
        @classmethod
        def hostname(cls):
            return "login.example"

        @classmethod
        def scratch(cls, username):
            return f"/scratch/{username}"

    env = Plain(username="u")
    assert env.container_parts() == (None, "", None)
    script = job_script_of(env)
    assert "singularity" not in script.split("\n", 8)[-1] or "exec -H" not in script
    assert 'python3 -s -m napari_tramway.pipeline.worker array --store "$PWD/store"' in script
    with pytest.raises(TypeError, match="without a container"):
        Plain(container="x.sif")


def test_hooks_defaults_and_instance_overrides():
    from napari_tramway.environments import SingularitySlurm

    class Site(SingularitySlurm):
        worker_count = 8

        @classmethod
        def hostname(cls):
            return "login.example"

        @classmethod
        def scratch(cls, username):
            return f"/scratch/{username}"

        @classmethod
        def singularity_executable(cls):
            return "apptainer"

        @classmethod
        def sbatch_options(cls):
            return {"partition": "common", "time": "01:00:00"}

        @classmethod
        def default_container(cls):
            return "containers/ntw.sif"

    env = Site(username="jdoe")
    assert env.worker_count == 8
    assert env.sbatch_options == {"partition": "common", "time": "01:00:00"}
    script = job_script_of(env, 100)
    assert "# submitted as: sbatch --array=0-99%8 " in script  # the throttle (on the command line)
    assert "#SBATCH --partition=common" in script and "#SBATCH --time=01:00:00" in script
    assert 'apptainer exec -H "$HOME" "$HOME"/containers/ntw.sif python3 -s' in script

    env = Site(username="jdoe", container="/other.sif", sbatch_options={"time": "0:10:00", "mem": "4G", "qos": "fast",
                                                                      "cpus-per-task": 2, "account": "lab"},
               worker_count=3, python="python3.12", singularity_options="-B /data", keep_remote=True)
    assert env.sbatch_options == {"partition": "common", "time": "0:10:00", "mem": "4G", "qos": "fast",
                                  "cpus-per-task": 2, "account": "lab"}
    script = job_script_of(env, 5)
    assert "sbatch --array=0-4%3 " in script and "#SBATCH --mem=4G" in script
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --account=lab" in script
    assert 'apptainer exec -H "$HOME" -B /data /other.sif python3.12 -s' in script
    assert env.keep_remote is True
    # the napari widget's name for the throttle
    assert Site(username="x", max_running=2).worker_count == 2
    with pytest.raises(TypeError, match="unknown setting"):
        Site(frobnicate=1)


def test_sbatch_options_are_quoted_and_reserved_ones_refused():
    assert rs.sbatch_lines({"p": "debug", "J": None, "comment": "two words", "exclusive": True}) == [
        "#SBATCH -p debug", "#SBATCH --comment='two words'", "#SBATCH --exclusive"]
    with pytest.raises(ValueError):
        rs.sbatch_lines({"time": "1:00\n#SBATCH --uid=0"})
    with pytest.raises(ValueError):
        rs.sbatch_lines({"bad key": 1})
    with pytest.raises(ValueError, match="array"):
        rs.job_script(run_id="r", stage="s", job_name="j", array="0", units_file="u", log_name="l",
                      sbatch_options={"array": "0-3"}, deps="", python="python3")


def test_toml_profiles(tmp_path, monkeypatch):
    path = tmp_path / "sites.toml"
    path.write_text(textwrap.dedent('''
        [mylab]
        base = "SingularitySlurm"
        description = "the lab's cluster"
        hostname = "login.lab.example"
        port = 2200
        scratch = "/scratch/{username}/work"
        singularity_executable = "apptainer"
        singularity_options = "-B /scratch"
        remote_dependencies = "module load apptainer"
        container = "/shared/ntw.sif"
        python = "python3.11"
        username = "jdoe"
        worker_count = 20
        [mylab.sbatch]
        partition = "common"
        time = "02:00:00"

        [mylab-long]
        base = "mylab"
        [mylab-long.sbatch]
        time = "24:00:00"

        [plain]
        base = "SlurmOverSSH"
        hostname = "plain.example"
        scratch = "~/scratch"
    '''))
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(path))
    listed = {n: (k, d) for n, k, d in sites.list_sites()}
    assert listed["mylab"] == ("profile", "the lab's cluster")
    assert listed["plain"][0] == "profile"
    env = sites.make_environment("mylab")
    assert env.host == "login.lab.example" and env._hook("port") == 2200
    assert env.resolved_username == "jdoe" and env.scratch_root() == "/scratch/jdoe/work"
    assert env.container_parts() == ("apptainer", "-B /scratch", "/shared/ntw.sif")
    assert env.deps() == "module load apptainer" and env.interpreter() == "python3.11"
    assert env.worker_count == 20 and env.sbatch_options == {"partition": "common", "time": "02:00:00"}
    assert env.site_reference()["name"] == "mylab"
    # per-run settings still override the profile
    env = sites.make_environment("mylab", dict(username="other", worker_count=2, sbatch_options={"time": "0:30:00"}))
    assert env.scratch_root() == "/scratch/other/work" and env.worker_count == 2
    assert env.sbatch_options["time"] == "0:30:00"
    long = sites.make_environment("mylab-long")
    assert long.sbatch_options == {"partition": "common", "time": "24:00:00"} and long.host == "login.lab.example"
    plain = sites.make_environment("plain", dict(username="u"))
    assert plain.container_parts() == (None, "", None)

    path.write_text('[broken]\nhostname = "h"\nscratch = "/s"\nfrobnicate = 1\nport = "22"\n')
    with pytest.raises(ValueError) as err:
        sites.make_environment("broken")
    assert "broken.frobnicate: unknown field" in str(err.value) and "broken.port: expected int" in str(err.value)


def test_entry_point_registered_adapter(tmp_path, monkeypatch):
    pkg = tmp_path / "ntw_site_pkg.py"
    pkg.write_text(MAESTRO_EXAMPLE.replace("class Maestro", "class LabSite"))
    dist = tmp_path / "ntw_site_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ntw-site-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[napari_tramway.sites]\nlabsite = ntw_site_pkg:LabSite\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    listed = {n: (k, d) for n, k, d in sites.list_sites()}
    assert listed["labsite"] == ("entry point", "ntw_site_pkg:LabSite")
    env = sites.make_environment("labsite", dict(username="jdoe"))
    assert type(env).__name__ == "LabSite" and env.host == "maestro.pasteur.fr"
    assert env.site_reference()["name"] == "labsite"


def test_local_presets_and_unknown_names(tmp_path):
    from napari_tramway.analysis import make_environment
    from napari_tramway.environments import InProcess, LocalHost

    assert isinstance(sites.make_environment("inprocess"), InProcess)
    lh = sites.make_environment("local:2")
    assert isinstance(lh, LocalHost) and lh.worker_count == 2
    with pytest.raises(sites.SiteNotFound) as err:
        sites.make_environment("nowhere")
    assert "Maestro" in str(err.value) and "file.py:Class" in str(err.value)
    with pytest.raises(sites.SiteNotFound, match="no such file"):
        sites.make_environment(str(tmp_path / "missing.py") + ":X")
    # Analysis.run(env=NAME) goes through the same factory, by the façade
    env = make_environment("Maestro")
    assert type(env).__name__ == "Maestro"


def test_site_reference_recreates_user_file_sites(tmp_path):
    f = tmp_path / "mysite.py"
    f.write_text(MAESTRO_EXAMPLE)
    env = sites.make_environment(f"{f}:Maestro", dict(username="jdoe", worker_count=4, poll_interval=2.0,
                          confirm_host_key=lambda *a: True))
    ref = env.site_reference()
    assert ref["name"] == f"{f}:Maestro"
    assert ref["options"]["username"] == "jdoe" and ref["options"]["worker_count"] == 4
    assert "confirm_host_key" not in ref["options"]
    from napari_tramway.environments.slurm import site_for_record

    again = site_for_record({"site": ref, "run_id": "x"})
    assert again.host == "maestro.pasteur.fr" and again.worker_count == 4 and again.poll_interval == 2.0


def test_profiles_set_the_instance_settings_too(tmp_path, monkeypatch):
    """A profile can set what ``SingularitySlurm(...)`` takes: an SSH config with a ProxyJump,
    polling, timeouts, no pre-flight checks... (the same fields as the class)."""
    path = tmp_path / "sites.toml"
    path.write_text(textwrap.dedent('''
        [behind-bastion]
        hostname = "login-via-bastion"
        scratch = "/scratch/{username}"
        ssh_config = "~/lab/ssh_config"
        poll_interval = 30
        max_poll_interval = 300
        reconnect_timeout = 7200.0
        preflight = false
        allow_agent = false
        keep_remote = true
        [behind-bastion.sbatch]
        account = "lab"
        partition = "long"
    '''))
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(path))
    env = sites.make_environment("behind-bastion", dict(username="jdoe"))
    assert (env.ssh_config, env.poll_interval, env.max_poll_interval, env.reconnect_timeout) == (
        "~/lab/ssh_config", 30, 300, 7200.0)
    assert env.preflight is False and env.allow_agent is False and env.keep_remote is True
    assert env.sbatch_options == {"account": "lab", "partition": "long"}
    assert sites.make_environment("behind-bastion", dict(poll_interval=2)).poll_interval == 2  # per-run settings win
    path.write_text('[x]\nhostname = "h"\nscratch = "/s"\npreflight = "no"\n')
    with pytest.raises(ValueError, match="x.preflight: expected bool"):
        sites.make_environment("x")
