"""How much of the input reaches the classifier of a freshly initialised network.

Prints, per activation, the std of the features after each max-pool (one per block
of the MNIST networks) and how much the logits vary across images compared with
the spread of the classifier's biases. A deep stack without normalisation at
PyTorch's default initialisation shrinks its signal block by block; when the logits
barely depend on the image, training starts on a plateau at chance level.

    python scripts/signal_scale.py --data-root ../shared/data
    python scripts/signal_scale.py --model lenet --activations relu pau

Uses 256 MNIST test images (--images) (normalised and padded to 32x32 as in training), or
standard-normal inputs with --random.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from pau.models import create_model

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def mnist_batch(root: str, n: int) -> torch.Tensor:
    from torchvision.datasets import MNIST

    images = MNIST(root, train=False, download=False).data[:n].float().div(255)
    x = ((images - MNIST_MEAN) / MNIST_STD).unsqueeze(1)
    return F.pad(x, (2, 2, 2, 2), value=-MNIST_MEAN / MNIST_STD)  # 28x28 -> 32x32, background value


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
    parser.add_argument("--data-root", default="data", help="folder holding MNIST/raw")
    parser.add_argument("--random", action="store_true", help="standard-normal inputs instead of MNIST")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x = torch.randn(args.images, 1, 32, 32) if args.random else mnist_batch(args.data_root, args.images)
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
