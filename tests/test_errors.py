"""The one way a command reports a user error: one line (plus a hint), exit 2, no traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pau.repro.errors import UserError, format_user_error, report_user_errors


@report_user_errors("pau-demo")
def _plain_main(message="no runs in results/x", hint=None):
    raise UserError(message, hint=hint)


@report_user_errors("pau-demo")
def _fine_main():
    return 7


def test_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        _plain_main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "pau-demo: no runs in results/x\n"


def test_hint_is_a_second_line(capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit):
        _plain_main("no MNIST under data", hint="set data.download=true")
    assert capsys.readouterr().err.splitlines() == ["pau-demo: no MNIST under data", "hint: set data.download=true"]


def test_multiline_message_is_folded_into_one_line():
    assert format_user_error("p", UserError("a\n  b\n")) == "p: a b"


def test_full_error_env_keeps_the_traceback(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(UserError, match="no runs"):
        _plain_main()


def test_other_errors_and_results_pass_through(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    assert _fine_main() == 7

    @report_user_errors("pau-demo")
    def broken():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        broken()


HYDRA_SCRIPT = """
import hydra
from pau.repro.errors import UserError, report_user_errors

@hydra.main(config_path=None, version_base="1.3")
@report_user_errors("pau-demo")
def main(cfg):
    raise UserError(f"bad value {cfg.value}", hint="use value=1")

main()
"""


def _run_hydra_script(tmp_path, env_full_error):
    script = tmp_path / "demo.py"
    script.write_text(HYDRA_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    if env_full_error:
        env["HYDRA_FULL_ERROR"] = "1"
    return subprocess.run(
        [sys.executable, str(script), "+value=3", f"hydra.run.dir={tmp_path / 'out'}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )


def test_user_error_inside_a_hydra_task_is_one_line(tmp_path):
    proc = _run_hydra_script(tmp_path, env_full_error=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["pau-demo: bad value 3", "hint: use value=1"]


def test_user_error_inside_a_hydra_task_with_full_error_has_the_traceback(tmp_path):
    proc = _run_hydra_script(tmp_path, env_full_error=True)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "UserError: bad value 3" in proc.stderr


BIN = Path(sys.executable).parent


def _pau_train(tmp_path, *overrides):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [str(BIN / "pau-train"), "data=mnist", "trainer=cpu", "trainer.max_epochs=1",
         f"paths.runs_dir={tmp_path / 'runs'}", *overrides],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )


def test_pau_train_says_in_one_line_where_it_looked_for_missing_data(tmp_path):
    proc = _pau_train(tmp_path, f"data.root={tmp_path / 'nodata'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"pau-train: mnist not found: looked in {tmp_path / 'nodata' / 'MNIST' / 'raw'}. Missing: ")
    assert "data.download=true" in line


def test_pau_train_calls_a_truncated_mnist_file_corrupt(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, shape in (("train-images-idx3-ubyte", (60, 28, 28)), ("train-labels-idx1-ubyte", (60,)),
                        ("t10k-images-idx3-ubyte", (10, 28, 28)), ("t10k-labels-idx1-ubyte", (10,))):
        header = bytes([0, 0, 0x08, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
        size = 1
        for d in shape:
            size *= d
        (raw / name).write_bytes(header + bytes(size))
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes()[:30])
    proc = _pau_train(tmp_path, f"data.root={tmp_path / 'data'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"pau-train: mnist data {raw / 'train-labels-idx1-ubyte'} is corrupt: 30 bytes where "
                           "its header of shape (60,) needs 68.")


def test_a_missing_config_folder_is_one_line_unless_the_command_brings_its_own(tmp_path, monkeypatch, capsys):
    from pau.repro.training import cli

    monkeypatch.setattr(cli, "CONF_DIR", tmp_path / "gone")
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        report_user_errors("pau-train")(cli.require_config_dir)(["data=digits"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pau-train: no configuration folder at {tmp_path / 'gone'}; reinstall the package, "
                   "or give your own with --config-dir DIR"]
    assert cli.require_config_dir(["--config-dir", str(tmp_path), "data=digits"]) is None
