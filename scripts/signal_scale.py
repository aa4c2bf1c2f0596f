"""How much of the input reaches the classifier of a network, fresh or after a few training steps.

Prints, per activation, the std of the features after each max-pool (one per block
of the MNIST networks) and how much the logits vary across images compared with
the spread of the classifier's biases. A deep stack without normalisation at
PyTorch's default initialisation shrinks its signal block by block; when the logits
barely depend on the image, training starts on a plateau at chance level.

Below that line it says whether the network is alive on a test batch: per activation
layer (one per block of VGG-8) the fraction of *dead* units (outputs, i.e. channel x
position, that are exactly zero for every image) and of *input-blind* ones (the same
value for every image, dead ones included), and whether the first convolution's
gradient of the test batch's cross-entropy is exactly zero (no update can reach it).
A ReLU network that dies in training shows 100% dead from some block on, logits that
are one constant for every image, and a first-convolution gradient of exactly 0.

    python scripts/signal_scale.py --data-root ../shared/data
    python scripts/signal_scale.py --model lenet --activations relu pau
    python scripts/signal_scale.py --data digits          # offline
    # after 40 training steps of Table 2's Adam setting, on a 2,000-image subset:
    python scripts/signal_scale.py --data-root ../shared/data --steps 40 --optim adam --lr 0.002 \\
        --batch-size 256 data.train_subset=2000
    # experiment=table2's VGG-8 setting: A.3.2's SGD with torchvision's VGG initialisation
    # (KEY=VALUE overrides go before --activations, which takes every word after it):
    python scripts/signal_scale.py model.weight_init=kaiming data.train_subset=10240 --data-root ../shared/data \\
        --steps 40 --optim sgd --lr 0.01 --batch-size 256 --activations relu lrelu
    # scripts/vgg8_settings.sh runs the four settings of Adam / SGD x both initialisations.
    # the SGD setting of A.3.2, with gradient-norm clipping at 5:
    python scripts/signal_scale.py --data-root ../shared/data --steps 40 --optim sgd --lr 0.01 \\
        --batch-size 64 --clip 5 data.train_subset=2000

The network, its activation, the data and the training are those ``pau-train`` would
run with the same overrides (the configs in conf/, the project's data module and
model builders, ``PAUClassifier`` under ``pau-train``'s Trainer for ``--steps`` steps).
Any further ``key=value`` is passed on as a Hydra override: ``trainer.threads=2``
trains on two CPU threads instead of the one ``trainer=cpu`` fixes, ``trainer=gpu`` on
a GPU. The test batch is the test loader's first batch of at most ``--images`` images,
exactly as training sees them (the loader splits the test set evenly: 250 of MNIST's
10,000 for 256), or standard-normal inputs with random labels with --random.
Statistics are taken in eval mode.
"""
from __future__ import annotations

import argparse
import copy
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from pau.repro.errors import UserError, report_user_errors

# Layers that are not activation units; every other direct child of ``features`` or
# ``classifier`` is one.
NOT_ACTIVATIONS = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


@torch.no_grad()
def block_stds(model: nn.Module, x: torch.Tensor) -> tuple[list[float], torch.Tensor]:
    """The std of the features after every max-pool, and the logits."""
    stds, h = [], x
    for layer in model.features:
        h = layer(h)
        if isinstance(layer, nn.MaxPool2d):
            stds.append(h.std().item())
    return stds, model.classifier(h)


def activation_layers(model: nn.Module) -> list[nn.Module]:
    """The activation units of an MNIST network in the order the input meets them."""
    return [layer for part in (model.features, model.classifier) for layer in part
            if not isinstance(layer, NOT_ACTIVATIONS)]


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


@dataclass
class Diagnosis:
    stds: list[float]  # feature std after each max-pool
    logit_std: float  # std over images of each logit, mean over the classes
    bias_std: float  # std of the last linear layer's biases
    dead: list[float]  # per activation layer: fraction of outputs that are 0 for every image
    blind: list[float]  # per activation layer: fraction of outputs equal for every image
    grad_norm: float  # norm of the first convolution's gradient of the batch's cross-entropy
    accuracy: float  # on the batch

    @property
    def grad_zero(self) -> bool:
        return self.grad_norm == 0.0


def diagnose(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> Diagnosis:
    """The signal, the dead and input-blind units and the first convolution's gradient of
    ``model`` on one batch, in eval mode (RPAU without noise); the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        stds, _ = block_stds(model, images)
        outputs = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
                 for layer in activation_layers(model)]
        conv = first_conv(model)
        conv.weight.grad = None
        try:
            logits = model(images)
        finally:
            for hook in hooks:
                hook.remove()
        F.cross_entropy(logits, targets).backward()
        grad = conv.weight.grad
        grad_norm = 0.0 if grad is None else grad.norm().item()
        model.zero_grad(set_to_none=True)
    finally:
        model.train(was_training)
    dead, blind = [], []
    for out in outputs:
        flat = out.reshape(len(out), -1)
        dead.append((flat == 0).all(0).float().mean().item())
        blind.append((flat == flat[:1]).all(0).float().mean().item())
    logits = logits.detach()
    bias = [m.bias for m in model.modules() if isinstance(m, nn.Linear)][-1].detach()
    return Diagnosis(
        stds=stds, logit_std=logits.std(0).mean().item(), bias_std=bias.std().item(), dead=dead, blind=blind,
        grad_norm=grad_norm, accuracy=(logits.argmax(1) == targets).float().mean().item(),
    )


# --------------------------------------------------------------------------- the project's path
def compose(overrides: list[str]) -> dict:
    """The resolved configuration ``pau-train <overrides>`` would run."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from pau.repro.training.build import resolved
    from pau.repro.training.config import compose_config

    try:
        return resolved(compose_config(*overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        text = " ".join(str(exc).split())
        raise UserError(f"the overrides {' '.join(overrides)} do not compose: {text}",
                        hint="give them as pau-train takes them, e.g. data=digits optim.lr=0.01") from None


def test_batch(cfg: dict, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images (normalised, as the network sees them) and their labels."""
    from pau.repro.training.build import build_datamodule

    cfg = {**cfg, "data": {**cfg["data"], "eval_batch_size": n}}
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("test")
    images, targets = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    return images[:n], targets[:n]


class StepLosses(Callback):
    """Keeps every training step's loss."""

    def __init__(self):
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.values.append(float(outputs["loss"]))


def trained_model(cfg: dict, steps: int) -> tuple[nn.Module, list[float]]:
    """The network ``cfg`` builds (seeded as ``pau-train`` seeds it) after ``steps`` training
    steps of ``PAUClassifier`` under ``pau-train``'s Trainer (``cfg``'s clipping, precision,
    determinism, threads), without test passes, logs or checkpoints; on the CPU, with the
    loss of every step."""
    from pau.repro.training.build import build_datamodule
    from pau.repro.training.module import PAUClassifier
    from pau.repro.training.run import build_trainer, cpu_threads

    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    module = PAUClassifier(cfg)
    if steps == 0:
        return module.model, []
    datamodule = build_datamodule(cfg)
    datamodule.verify()
    cfg = copy.deepcopy(cfg)
    cfg["trainer"].update(max_steps=steps, max_epochs=-1, max_time=None, limit_val_batches=0, num_sanity_val_steps=0,
                          enable_progress_bar=False, enable_model_summary=False)
    cfg["logger"] = {"csv": None, "wandb": None}
    cfg["checkpoint"] = {**cfg["checkpoint"], "every_n_epochs": 0}
    losses = StepLosses()
    determinism = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    quiet = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as scratch, cpu_threads(cfg["trainer"].get("threads")):
            build_trainer(cfg, Path(scratch), callbacks=[losses], top5=module.top5).fit(module, datamodule=datamodule)
    finally:
        torch.use_deterministic_algorithms(determinism[0], warn_only=determinism[1])
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    return module.model.cpu(), losses.values


def overrides_for(args, activation: str) -> list[str]:
    out = [f"data={args.data}", f"model={args.model}", f"activation={activation}", f"seed={args.seed}"]
    if args.data_root is not None:
        out.append(f"data.root={args.data_root}")
    if args.optim is not None:
        out.append(f"optim={args.optim}")
    if args.lr is not None:
        out.append(f"optim.lr={args.lr}")
    if args.batch_size is not None:
        out.append(f"data.batch_size={args.batch_size}")
    if args.clip is not None:
        out.append(f"trainer.gradient_clip_val={args.clip}")
    return out + list(args.overrides)


def percent(values: list[float]) -> str:
    return " ".join(f"{100 * v:.0f}%" for v in values)


def describe_training(cfg: dict, steps: int) -> str:
    if steps == 0:
        init = cfg["model"].get("weight_init", "pytorch")
        return "fresh (" + ("PyTorch's default initialisation" if init == "pytorch" else f"model.weight_init={init}") + ")"
    optim, clip = cfg["optim"], cfg["trainer"].get("gradient_clip_val")
    extra = f", momentum {optim['momentum']}" if optim["name"] == "sgd" else ""
    return (f"after {steps} training steps ({optim['name']} lr {optim['lr']}{extra}, batch {cfg['data']['batch_size']}, "
            f"gradient-norm clipping {clip if clip is not None else 'none'}, "
            f"{cfg['data'].get('train_subset') or 'all'} training images)")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="further pau-train overrides")
    parser.add_argument("--model", default="vgg8_mnist")
    parser.add_argument("--activations", nargs="+", default=["relu", "lrelu", "pau", "rpau"])
    parser.add_argument("--data", default="mnist", help="a data set of conf/data/ (default: mnist)")
    parser.add_argument("--data-root", help="folder holding the data set (MNIST/raw for mnist; "
                                            "default: pau-train's, $PAU_DATA_ROOT or data)")
    parser.add_argument("--random", action="store_true", help="standard-normal inputs instead of test images")
    parser.add_argument("--images", type=int, default=256, help="size of the test batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=0, help="training steps before the diagnosis (default 0: fresh)")
    parser.add_argument("--optim", choices=["adam", "sgd"], help="optimiser (default: the data set's, optim=<data>)")
    parser.add_argument("--lr", type=float, help="learning rate (optim.lr)")
    parser.add_argument("--batch-size", type=int, help="training batch size (data.batch_size)")
    parser.add_argument("--clip", type=float, help="gradient-norm clipping (trainer.gradient_clip_val)")
    return parser.parse_args(argv)


@report_user_errors("signal_scale.py")
def main(argv=None) -> int:
    args = parse_args(argv)
    stray = [a for a in args.activations if "=" in a]
    if stray:  # argparse gives --activations every word after it
        raise UserError(f"{' '.join(stray)} came after --activations and was read as activation names",
                        hint="put KEY=VALUE overrides before --activations")
    if args.steps < 0 or args.images < 2:
        raise UserError("--steps must be >= 0 and --images >= 2 (a spread over images needs two)")
    batch = None
    for i, act in enumerate(args.activations):
        cfg = compose(overrides_for(args, act))
        if batch is None:
            if args.random:
                generator = torch.Generator().manual_seed(args.seed)
                size = cfg["data"].get("image_size") or 32
                shape = (args.images, cfg["data"]["in_channels"], size, size)
                batch = torch.randn(shape, generator=generator), \
                    torch.randint(cfg["data"]["num_classes"], (args.images,), generator=generator)
            else:
                batch = test_batch(cfg, args.images)
            print(f"{args.model} on {'random inputs' if args.random else args.data}, {len(batch[0])} test images, "
                  f"input std {batch[0].std().item():.3f}; {describe_training(cfg, args.steps)}")
        model, losses = trained_model(cfg, args.steps)
        d = diagnose(model, *batch)
        print(f"  {act:6s} std after each block: {' '.join(f'{s:.1e}' for s in d.stds)}; "
              f"logit std across images {d.logit_std:.1e} vs classifier-bias std {d.bias_std:.1e}")
        trained = f"train loss {losses[0]:.3f} -> {losses[-1]:.3f}; " if losses else ""
        print(f"  {'':6s} {trained}test-batch accuracy {100 * d.accuracy:.1f}%")
        print(f"  {'':6s} dead units after each activation: {percent(d.dead)}; input-blind: {percent(d.blind)}")
        print(f"  {'':6s} first-conv gradient norm {d.grad_norm:.1e}"
              f"{' (exactly zero: no update reaches it)' if d.grad_zero else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
