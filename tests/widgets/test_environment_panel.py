"""The Environment panel: every environment listed once, a site's settings form made from the
environment registry, its options as the factory and the spec take them (under ``xvfb-run``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    sites = tmp_path / "sites.toml"
    sites.write_text('[lab]\nbase = "SlurmOverSSH"\nhostname = "login.lab"\nscratch = "/scratch/{username}"\n'
                     'description = "the lab"\n')
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(sites))
    monkeypatch.setenv("NAPARI_TRAMWAY_CONFIG", str(tmp_path / "config"))
    from napari_tramway._widgets.environment import EnvironmentPanel

    p = EnvironmentPanel(None)
    qtbot.addWidget(p)
    return p


def test_every_environment_is_listed_once(panel):
    names = [panel.combo.itemData(i) for i in range(panel.combo.count())]
    labels = [panel.combo.itemText(i) for i in range(panel.combo.count())]
    assert names[:5] == ["inprocess", "local", "SlurmOverSSH", "SingularitySlurm", "Maestro"] and "lab" in names
    assert len(names) == len(set(names))
    assert labels[:2] == ["this process (in-process)", "local processes"]
    assert not any(label.startswith(("inprocess", "local —")) for label in labels)


def test_a_sites_form_comes_from_the_registry(panel):
    from napari_tramway.analysis import environment_kinds

    kinds = environment_kinds()
    panel.select("Maestro")
    assert panel.site_box.isVisibleTo(panel)
    assert set(panel.form.fields) == {p.name for p in kinds["Maestro"].parameters} - {"worker_count"}
    assert panel.form.fields["poll_interval"].value == 5.0  # the registry's default
    assert not panel.form.fields["ssh_retries"].native.isVisibleTo(panel)  # advanced: hidden until asked
    panel.advanced.setChecked(True)
    assert panel.form.fields["ssh_retries"].native.isVisibleTo(panel)
    panel.select("lab")  # a profile of SlurmOverSSH: its kind's settings, no container
    assert "container" not in panel.form.fields and "username" in panel.form.fields
    panel.select("local")
    assert not panel.site_box.isVisibleTo(panel) and panel.options() == {"worker_count": panel.workers.value()}


def test_the_forms_options_make_the_site_and_go_through_the_spec(panel, qtbot):
    panel.select("Maestro")
    fields = panel.form.fields
    fields["username"].value = "jdoe"
    fields["partition"].value = "long"
    fields["keep_remote"].value = True
    panel.workers.setValue(4)
    panel.extra.setPlainText('sbatch_options = {gres = "gpu:1"}\npoll_interval = 2.5')
    opts = panel.options()
    assert opts == {"username": "jdoe", "keep_remote": True, "poll_interval": 2.5, "worker_count": 4,
                    "sbatch_options": {"partition": "long", "gres": "gpu:1"}}
    env = panel.environment_factory()()
    assert type(env).__name__ == "Maestro" and env.resolved_username == "jdoe" and env.worker_count == 4
    assert env.sbatch_options == {"partition": "long", "gres": "gpu:1"} and env.poll_interval == 2.5
    assert env.keep_remote is True and env.confirm_host_key is not None  # the panel's dialogs

    spec = SimpleNamespace()
    panel.to_spec(spec)
    from napari_tramway._widgets.environment import EnvironmentPanel

    other = EnvironmentPanel(None)
    qtbot.addWidget(other)
    other.from_spec(spec)
    assert other.name == "Maestro" and other.options() == opts
    assert other.form.fields["partition"].value == "long" and "gres" in other.extra.toPlainText()


def test_a_wrong_setting_is_named(panel):
    from napari_tramway.core.errors import ParameterError

    panel.select("Maestro")
    panel.extra.setPlainText("frobnicate = 1")
    with pytest.raises(ParameterError, match="environment.options.frobnicate"):
        panel.environment_factory()()
