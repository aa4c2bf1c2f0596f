"""The baselines' options from their original papers, in the training framework:
APL's L2 penalty on its slopes in the loss, SReLU's warm-up with adaptive thresholds."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pau.activations import init_srelu_from_batch
from pau.activations.units import APL, SReLU
from pau.repro.errors import UserError
from pau.repro.runs import differing_keys
from pau.repro.training import PAUClassifier, build_datamodule, build_model, register_configs, run
from pau.repro.training.callbacks import srelu_warmup
from pau.repro.training.cli import CONF_DIR

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
SRELU_PARAMS = ("t_left", "a_left", "t_right", "a_right")
SRELU_START = {"t_left": 0.0, "a_left": 0.01, "t_right": 1.0, "a_right": 1.0}  # conf/activation/srelu.yaml


def make(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*QUIET, *overrides])


def tiny(n_train=16, n_test=8, batch=8):
    return ["model=lenet", "data=synthetic", f"data.num_train={n_train}", f"data.num_test={n_test}",
            f"data.batch_size={batch}", f"data.eval_batch_size={n_test}"]


def read_metrics(folder: Path) -> list[dict]:
    with (folder / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def srelu_state(ckpt: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{parameter name: {unit: tensor}} of the SReLU units in a checkpoint."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    out = {p: {} for p in SRELU_PARAMS}
    for key, value in state.items():
        unit, _, param = key.rpartition(".")
        if param in out:
            out[param][unit] = value
    return out


class FirstBatches(L.Callback):
    """The images of each epoch's first training batch, as the network gets them."""

    def __init__(self):
        self.images: dict[int, torch.Tensor] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.images[trainer.current_epoch] = batch[0].detach().clone()


# -- APL's slope penalty ------------------------------------------------------------------
def test_apl_slope_penalty_is_added_to_the_training_loss():
    module = PAUClassifier(make(*tiny(), "activation=apl", "activation.slope_penalty=0.1"))
    units = [m for m in module.model.modules() if isinstance(m, APL)]
    assert len(units) == 4 and {u.slope_penalty for u in units} == {0.1} and module.penalised
    x, y = torch.randn(8, 1, 32, 32), torch.arange(8)
    loss = module.training_step((x, y), 0)
    with torch.no_grad():
        cross_entropy = F.cross_entropy(module(x), y)
        penalty = 0.1 * sum(u.slopes.pow(2).sum() for u in units)
    assert penalty.item() > 0.01
    assert loss.item() == pytest.approx((cross_entropy + penalty).item(), rel=1e-6)
    loss.backward()  # the penalty's gradient reaches the slopes: 2 * 0.1 * a on top of the data term
    assert all(u.slopes.grad is not None for u in units)


def test_apl_default_loss_is_the_cross_entropy_alone():
    cfg = make(*tiny(), "activation=apl")
    assert cfg.activation.slope_penalty == 0.0
    module = PAUClassifier(cfg)
    x, y = torch.randn(8, 1, 32, 32), torch.arange(8)
    loss = module.training_step((x, y), 0)
    assert not module.penalised and torch.equal(loss.detach(), F.cross_entropy(module(x), y).detach())


def test_a_run_with_a_slope_penalty_records_it_per_epoch(tmp_path):
    # lr 0: the slopes stay at their start, so every step's penalty is the checkpoint's.
    cfg = make(*tiny(), "activation=apl", "activation.slope_penalty=0.1", "optim.lr=0.0", "trainer.max_epochs=1",
               f"paths.runs_dir={tmp_path}")
    result = run(cfg)
    folder = Path(result["run_dir"])
    (row,) = read_metrics(folder)
    assert list(row)[:3] == ["epoch", "train_loss", "train_penalty"]
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    slopes = [v for k, v in state.items() if k.endswith(".slopes")]
    assert len(slopes) == 4
    assert float(row["train_penalty"]) == pytest.approx(0.1 * sum(s.pow(2).sum().item() for s in slopes), rel=1e-5)
    # train_loss is the cross-entropy alone: the unchanged network's on the 16 training images.
    dm = build_datamodule(cfg)
    dm.setup("fit")
    images, targets = dm.on_after_batch_transfer(dm.train_set[torch.arange(16)], 0)
    model = PAUClassifier.load_from_checkpoint(folder / "checkpoints" / "last.ckpt").model.eval()
    with torch.no_grad():
        assert float(row["train_loss"]) == pytest.approx(F.cross_entropy(model(images), targets).item(), rel=1e-5)
    plain = run(make(*tiny(), "activation=apl", "trainer.max_epochs=1", f"paths.runs_dir={tmp_path / 'plain'}"))
    assert "train_penalty" not in read_metrics(Path(plain["run_dir"]))[0]


# -- SReLU's warm-up -----------------------------------------------------------------------
def test_srelu_warmup_keys_are_the_training_loops_not_the_units():
    cfg = make("activation=srelu", "activation.warmup_epochs=2", "activation.threshold_quantile=0.8", "data=digits")
    units = [m for m in build_model(cfg).modules() if isinstance(m, SReLU)]
    assert len(units) == 4 and not any(u.frozen for u in units)
    callback = srelu_warmup(OmegaConf.to_container(cfg, resolve=True))
    assert (callback.warmup_epochs, callback.quantile) == (2, 0.8)
    assert srelu_warmup(OmegaConf.to_container(make("activation=srelu"), resolve=True)) is None  # default: none


def test_srelu_warmup_fixes_the_units_then_sets_t_right_from_a_batch_and_learns(tmp_path, crash_at_epoch):
    overrides = [*tiny(), "activation=srelu", "activation.warmup_epochs=1", "trainer.max_epochs=2"]
    whole = run(make(*overrides, f"paths.runs_dir={tmp_path / 'whole'}"))
    cfg = make(*overrides, f"paths.runs_dir={tmp_path / 'split'}")
    seen = FirstBatches()
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, callbacks=[crash_at_epoch(1), seen])
    folder = Path(cfg.paths.run_dir)
    ckpt = folder / "checkpoints" / "last.ckpt"
    after_warmup = srelu_state(ckpt)  # the state after epoch 1
    assert len(after_warmup["t_right"]) == 4
    for name in ("t_left", "a_left", "a_right"):
        assert all(torch.equal(v, torch.full_like(v, SRELU_START[name])) for v in after_warmup[name].values()), name
    assert all(not torch.equal(v, torch.ones_like(v)) for v in after_warmup["t_right"].values())
    # t_right: per channel, the 0.9 quantile of each unit's inputs on epoch 1's first batch.
    model = PAUClassifier.load_from_checkpoint(ckpt).model
    expected = init_srelu_from_batch(model, seen.images[0], 0.9)
    for unit, t in after_warmup["t_right"].items():
        assert torch.allclose(t, expected[unit.removeprefix("model.")], rtol=1e-6, atol=1e-7)

    assert run(cfg)["epochs"] == 2  # resumed at epoch 2: the units learn
    final = srelu_state(ckpt)
    for name in SRELU_PARAMS:
        assert all(not torch.equal(final[name][u], after_warmup[name][u]) for u in final[name]), name
    uninterrupted = srelu_state(Path(whole["run_dir"]) / "checkpoints" / "last.ckpt")
    assert all(torch.equal(final[n][u], uninterrupted[n][u]) for n in SRELU_PARAMS for u in final[n])


def test_a_run_resumed_inside_the_warmup_keeps_the_units_fixed(tmp_path, crash_at_epoch):
    overrides = [*tiny(), "activation=srelu", "activation.warmup_epochs=2", "trainer.max_epochs=3"]
    whole = run(make(*overrides, f"paths.runs_dir={tmp_path / 'whole'}"))
    cfg = make(*overrides, f"paths.runs_dir={tmp_path / 'split'}")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, callbacks=[crash_at_epoch(1)])
    ckpt = Path(cfg.paths.run_dir) / "checkpoints" / "last.ckpt"
    after_one = srelu_state(ckpt)
    assert all(torch.equal(v, torch.full_like(v, SRELU_START[n])) for n in SRELU_PARAMS for v in after_one[n].values())
    assert run(cfg)["epochs"] == 3
    final, uninterrupted = srelu_state(ckpt), srelu_state(Path(whole["run_dir"]) / "checkpoints" / "last.ckpt")
    assert all(torch.equal(final[n][u], uninterrupted[n][u]) for n in SRELU_PARAMS for u in final[n])
    assert all(not torch.equal(final["a_right"][u], after_one["a_right"][u]) for u in final["a_right"])


@pytest.mark.parametrize("override, message", [
    ("activation.warmup_epochs=-1", "activation.warmup_epochs=-1 is invalid"),
    ("activation.threshold_quantile=1.5", "activation.threshold_quantile=1.5 is invalid"),
    ("trainer=ddp_cpu", "trainer.strategy=ddp_find_unused_parameters_true"),
])
def test_a_warmup_it_cannot_run_is_one_user_error_before_anything_is_written(tmp_path, override, message):
    cfg = make(*tiny(), "activation=srelu", "activation.warmup_epochs=1", override, f"paths.runs_dir={tmp_path}")
    with pytest.raises(UserError) as err:
        run(cfg)
    assert message in str(err.value) + str(err.value.hint or "") and not any(tmp_path.iterdir())


# -- identity of runs saved before these keys ----------------------------------------------
def test_runs_saved_before_the_new_keys_resume_under_their_defaults():
    for act, keys in (("apl", ["slope_penalty"]), ("srelu", ["warmup_epochs", "threshold_quantile"])):
        current = OmegaConf.to_container(make(f"activation={act}"), resolve=True)
        saved = OmegaConf.to_container(make(f"activation={act}"), resolve=True)
        for key in keys:
            del saved["activation"][key]
        del saved["data"]["random_rotation"]
        assert differing_keys(saved, current) == []
    changed = OmegaConf.to_container(make("activation=srelu", "activation.warmup_epochs=3"), resolve=True)
    assert differing_keys(saved, changed) == ["activation.warmup_epochs"]
    penalised = OmegaConf.to_container(make("activation=apl", "activation.slope_penalty=0.001"), resolve=True)
    old_apl = OmegaConf.to_container(make("activation=apl"), resolve=True)
    del old_apl["activation"]["slope_penalty"]
    assert differing_keys(old_apl, penalised) == ["activation.slope_penalty"]


def test_srelu_warmup_under_ddp_gives_every_process_rank_zeros_thresholds(tmp_path, pau_cli):
    args = [*tiny(n_train=32, batch=8), *QUIET, "activation=srelu", "activation.warmup_epochs=1",
            "trainer=ddp_cpu", "trainer.strategy=ddp_find_unused_parameters_true", "trainer.max_epochs=2",
            f"paths.runs_dir={tmp_path}"]
    proc = pau_cli("pau-train", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = [p.parent for p in tmp_path.rglob("final_metrics.json")]
    replicas = json.loads((folder / "replicas.json").read_text())  # after epoch 2, both processes
    assert replicas["world_size"] == 2 and replicas["activation_count"] == 4 * (6 + 16 + 120 + 84)
    assert replicas["activation_max_abs_diff"] == 0.0 and replicas["network_max_abs_diff"] == 0.0
    t_right = srelu_state(folder / "checkpoints" / "last.ckpt")["t_right"]
    assert all(not torch.equal(t, torch.ones_like(t)) for t in t_right.values())
