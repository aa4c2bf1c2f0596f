"""The distribution: `pip install pau` is the library alone; a built wheel, installed
outside the checkout, runs the framework's commands from any directory."""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a wheel is built from: the packages, the configs and the paper's tables.
SOURCES = ["pau", "conf", "results/paper", "pyproject.toml", "setup.py", "README.md"]
FRAMEWORK_AND_FITTING = (
    "pau.repro", "hydra", "omegaconf", "lightning", "torchmetrics", "wandb", "pandas", "matplotlib",
    "sklearn", "tabulate", "torchvision", "submitit", "scipy", "threadpoolctl",
)


def _run(cmd, cwd, env=None, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_library_imports_nothing_of_the_framework_or_the_fitter():
    """import pau, convert a model, train it with PAU and RPAU: no extra is loaded."""
    code = textwrap.dedent(
        """
        import sys
        import torch
        import pau

        from torch import nn

        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), pau.PAU(), nn.Linear(8, 8), pau.RPAU(), nn.Linear(8, 8),
                              nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.1), nn.GELU(), nn.SiLU(), nn.Tanh(),
                              nn.Sigmoid(), nn.ELU(), nn.Hardswish(), nn.Linear(8, 2))
        # Converting every supported activation needs no fitting either: the coefficients ship.
        model, report = pau.replace_activations(model)
        assert len(report) == 9
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        first = None
        for _ in range(20):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            first = first if first is not None else loss.item()
            opt.zero_grad(); loss.backward(); opt.step()
        assert loss.item() < first, (first, loss.item())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {names!r} or m.startswith("pau.repro"))
        # mpmath is torch's own dependency (through sympy); it may only come from there.
        if "mpmath" in sys.modules and "sympy" not in sys.modules:
            loaded.append("mpmath")
        print(loaded)
        """
    ).format(names=set(m.split(".")[0] for m in FRAMEWORK_AND_FITTING if m != "pau.repro"))
    out = _run([sys.executable, "-c", code], cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the sources, installed into a folder of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in SOURCES:
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("pau-*.whl")
    site = tmp / "site"
    # --no-deps: the dependencies are this environment's; only pau itself comes from the wheel.
    _run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], cwd=tmp)
    work = tmp / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    return {"wheel": wheel, "site": site, "work": work, "env": env}


def test_the_wheel_carries_the_configs_and_the_papers_tables(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    configs = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert {f"pau/repro/conf/{c}" for c in configs} <= names
    tables = {p.name for p in (ROOT / "results" / "paper").glob("*.csv")}
    assert {f"pau/repro/paper/{t}" for t in tables} <= names
    assert {"pau/init/coefficients_v1.json", "pau/kernels/csrc/pau_cpu.cpp"} <= names
    code = ("import pau, pau.repro.resources as r; "
            "print(pau.__file__); print(r.config_dir()); print(r.paper_dir())")
    out = _run([sys.executable, "-c", code], cwd=installed["work"], env=installed["env"]).stdout.split()
    site = str(installed["site"])
    assert all(line.startswith(site) for line in out), out
    assert (Path(out[1]) / "train.yaml").is_file() and (Path(out[2]) / "table2_mnist_fmnist.csv").is_file()


def test_the_base_install_needs_torch_and_numpy_only(installed):
    metadata = zipfile.ZipFile(installed["wheel"]).read("pau-0.1.0.dist-info/METADATA").decode()
    requires: dict[str, set[str]] = {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist: "):
            spec, _, marker = line.split(": ", 1)[1].partition(";")
            extra = marker.split("==")[1].strip().strip('"') if "extra" in marker else ""
            requires.setdefault(extra, set()).add(spec.strip())
    assert requires[""] == {"torch>=2.4", "numpy"}
    assert {"scipy", "mpmath"} <= requires["fit"] and requires["plot"] == {"matplotlib"}
    assert {"hydra-core>=1.3", "lightning>=2.2", "wandb", "pandas", "torchvision", "hydra-joblib-launcher",
            "hydra-submitit-launcher", "submitit"} <= requires["repro"]
    assert {"pytest>=7", "pytest-xdist", "timm"} <= requires["dev"]
    assert any(r.startswith("pau[") and "repro" in r for r in requires["dev"])


def test_the_installed_wheel_trains_from_another_directory(installed):
    bin_dir = installed["site"] / "bin"
    user = installed["work"] / "my_conf" / "experiment"
    user.mkdir(parents=True)
    # A user's own config beside the shipped ones (--config-dir): a one-epoch digits run.
    (user / "tiny.yaml").write_text(textwrap.dedent(
        """
        # @package _global_
        defaults:
          - override /data: digits
        trainer:
          max_epochs: 1
          limit_train_batches: 2
          enable_progress_bar: false
          enable_model_summary: false
        """
    ))
    _run([str(bin_dir / "pau-train"), "--config-dir", str(installed["work"] / "my_conf"), "experiment=tiny",
          "model=lenet", "activation=pau", "paths.runs_dir=runs"], cwd=installed["work"], env=installed["env"])
    (final,) = (installed["work"] / "runs").rglob("final_metrics.json")
    result = json.loads(final.read_text())
    assert result["status"] == "finished" and result["epochs"] == 1
    assert "digits" in final.relative_to(installed["work"]).parts


def test_the_installed_wheel_makes_the_tables_with_the_papers_columns(installed):
    out = installed["work"] / "tables"
    _run([str(installed["site"] / "bin" / "pau-tables"), str(ROOT / "results" / "mnist" / "runs.csv"),
          "--out", str(out)], cwd=installed["work"], env=installed["env"])
    table2 = (out / "table2.md").read_text()
    # The paper's MNIST LeNet values (Table 2) beside ours: ReLU, PAU, RPAU; and a
    # VGG-8 value of an activation this budget did not run.
    for value in ("(99.17 ± 0.05; -0.47)", "99.21 ± 0.04", "99.26 ± 0.11", "— (paper 99.28 ± 0.04)"):
        assert value in table2
    # Column for column what the checkout makes (and commits).
    assert table2 == (ROOT / "results" / "mnist" / "tables" / "table2.md").read_text()


def test_the_installed_wheel_composes_the_pruning_config(installed):
    out = _run([str(installed["site"] / "bin" / "pau-prune"), "--cfg", "job", "experiment=prune_digits"],
               cwd=installed["work"], env=installed["env"]).stdout
    assert "pruning:" in out and "name: digits" in out


def _module_level_imports(tree):
    """Import statements that run when the module is imported (not inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def test_the_library_never_imports_the_framework():
    """No library module imports pau.repro; the extras' packages are imported only
    inside the functions that need them (fitting, plotting)."""
    extras = {m.split(".")[0] for m in FRAMEWORK_AND_FITTING if m != "pau.repro"} | {"mpmath"}
    for path in sorted((ROOT / "pau").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[1] == "repro":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                relative = [a.name for a in node.names] if node.level else []
                assert not module.startswith(("pau.repro", "repro")) and "repro" not in relative, (rel, node.lineno)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("pau.repro") for a in node.names), (rel, node.lineno)
        for node in _module_level_imports(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            top = {n.split(".")[0] for n in names} if not getattr(node, "level", 0) else set()
            assert not top & extras, (rel, node.lineno, sorted(top & extras))
