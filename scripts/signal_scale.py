"""How much of the input reaches the classifier of a freshly initialised network.

Prints, per activation, the std of the features after each max-pool (one per block
of the MNIST networks) and how much the logits vary across images compared with
the spread of the classifier's biases. A deep stack without normalisation at
PyTorch's default initialisation shrinks its signal block by block; when the logits
barely depend on the image, training starts on a plateau at chance level.

    python scripts/signal_scale.py --data-root ../shared/data
    python scripts/signal_scale.py --model lenet --activations relu pau
    python scripts/signal_scale.py --data digits          # offline

The inputs are test images of ``--data`` exactly as training sees them (the data
set's config in conf/data/, loaded by the project's data module), or standard-normal
inputs with --random.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from pau.repro.analysis.figures import data_batch
from pau.models import create_model

CONF_DATA = Path(__file__).resolve().parents[1] / "conf" / "data"


def sample_inputs(data: str, root: str, n: int) -> torch.Tensor:
    """``n`` normalised test images of data set ``data`` (a conf/data/ name), as a network sees them."""
    config = {"seed": 0, "data": OmegaConf.to_container(OmegaConf.load(CONF_DATA / f"{data}.yaml"))}
    return data_batch(config, size=n, data_root=root)


@torch.no_grad()
def block_stds(model: nn.Module, x: torch.Tensor) -> tuple[list[float], torch.Tensor]:
    """The std of the features after every max-pool, and the logits."""
    stds, h = [], x
    for layer in model.features:
        h = layer(h)
        if isinstance(layer, nn.MaxPool2d):
            stds.append(h.std().item())
    return stds, model.classifier(h)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vgg8_mnist")
    parser.add_argument("--activations", nargs="+", default=["relu", "lrelu", "pau", "rpau"])
    parser.add_argument("--data", default="mnist", help="a data set of conf/data/ (default: mnist)")
    parser.add_argument("--data-root", default="data", help="folder holding the data set (MNIST/raw for mnist)")
    parser.add_argument("--random", action="store_true", help="standard-normal inputs instead of test images")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x = torch.randn(args.images, 1, 32, 32) if args.random else sample_inputs(args.data, args.data_root, args.images)
    print(f"{args.model}, input std {x.std().item():.3f}")
    for act in args.activations:
        torch.manual_seed(args.seed)
        model = create_model(args.model, act).eval()
        stds, logits = block_stds(model, x)
        biases = [m.bias for m in model.classifier.modules() if isinstance(m, nn.Linear)][-1]
        print(f"  {act:6s} std after each block: {' '.join(f'{s:.1e}' for s in stds)}; "
              f"logit std across images {logits.std(0).mean().item():.1e} "
              f"vs classifier-bias std {biases.std().item():.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
