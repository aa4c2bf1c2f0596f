"""scripts/signal_scale.py: the signal, dead units, logit spread and first-convolution gradient
of the MNIST networks, fresh or after training steps through the project's own path."""
import re

import pytest
import torch

from pau.models import create_model

from script_loading import loaded_script


@pytest.fixture(scope="module")
def script():
    with loaded_script("signal_scale") as module:
        yield module


def test_signal_scale_script_shows_vgg8_starting_input_blind(script, capsys):
    """At PyTorch's default init VGG-8 (no normalisation) shrinks its signal ~100x over
    five blocks, LeNet keeps it (what the MNIST runbook relies on)."""
    torch.manual_seed(0)
    x = torch.randn(16, 1, 32, 32)
    torch.manual_seed(0)
    stds, logits = script.block_stds(create_model("vgg8_mnist", "relu").eval(), x)
    assert len(stds) == 5 and logits.shape == (16, 10)
    assert stds[-1] < stds[0] / 20
    torch.manual_seed(0)
    lenet_stds, _ = script.block_stds(create_model("lenet", "relu").eval(), x)
    assert len(lenet_stds) == 2 and lenet_stds[-1] > stds[0] / 4
    assert script.main(["--data", "digits", "--images", "8", "--model", "lenet", "--activations", "relu", "pau"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"std after each block: \S+ \S+;", out)) == 2


def test_a_vgg8_zeroed_in_block_3_is_dead_from_there_on_and_a_fresh_one_is_not(script):
    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 32, 32), torch.randint(10, (32,))
    torch.manual_seed(0)
    fresh = create_model("vgg8_mnist", "relu")
    d = script.diagnose(fresh, x, y)
    assert len(d.dead) == len(d.blind) == 5  # one ReLU per block
    assert all(0 <= f < 1 for f in d.dead) and d.dead[2] < 1
    assert d.grad_norm > 0 and not d.grad_zero
    assert d.logit_std > 0

    dead = create_model("vgg8_mnist", "relu")
    dead.load_state_dict(fresh.state_dict())
    # Block 3 is two convolutions (features[6], features[7]), then its ReLU (features[8]).
    assert isinstance(dead.features[8], torch.nn.ReLU) and isinstance(dead.features[9], torch.nn.MaxPool2d)
    with torch.no_grad():
        for conv in (dead.features[6], dead.features[7]):
            conv.weight.zero_()
            conv.bias.zero_()
    d_dead = script.diagnose(dead, x, y)
    assert d_dead.dead[:2] == d.dead[:2]  # blocks 1-2 are untouched
    assert d_dead.dead[2] == 1.0 and d_dead.blind[2:] == [1.0, 1.0, 1.0]
    assert d_dead.logit_std == 0.0  # one constant for every image: the biases' spread is all there is
    assert d_dead.bias_std == d.bias_std > 0
    assert d_dead.grad_zero  # nothing flows back through a dead ReLU
    # The diagnosis leaves the network as it found it: in training mode, without gradients.
    assert dead.training and all(p.grad is None for p in dead.parameters())


def test_training_steps_go_through_pau_train_and_the_report_says_what_it_ran(script, capsys):
    args = script.parse_args(["--data", "digits", "--steps", "3", "--optim", "sgd", "--lr", "0.05",
                              "--batch-size", "16", "--clip", "5", "data.train_subset=64"])
    cfg = script.compose(script.overrides_for(args, "relu"))
    assert (cfg["optim"]["name"], cfg["optim"]["lr"], cfg["optim"]["momentum"]) == ("sgd", 0.05, 0.5)
    assert (cfg["data"]["batch_size"], cfg["data"]["train_subset"], cfg["trainer"]["gradient_clip_val"]) == (16, 64, 5.0)
    fresh, none = script.trained_model(cfg, 0)
    trained, losses = script.trained_model(cfg, 3)
    assert none == [] and len(losses) == 3
    assert not torch.equal(fresh.features[0].weight, trained.features[0].weight)
    assert next(trained.parameters()).device.type == "cpu"

    assert script.main(["--data", "digits", "--images", "16", "--activations", "relu", "--steps", "2",
                        "--batch-size", "16", "data.train_subset=64"]) == 0
    out = capsys.readouterr().out
    assert "vgg8_mnist on digits, 16 test images" in out
    assert ("after 2 training steps (adam lr 0.002, batch 16, gradient-norm clipping none, 64 training images)"
            in out)  # digits' own optimiser: optim=digits is Adam
    assert re.search(r"train loss \d\.\d{3} -> \d\.\d{3}; test-batch accuracy \d+\.\d%", out)
    assert re.search(r"dead units after each activation: (\d+% ){4}\d+%; input-blind: (\d+% ){4}\d+%", out)
    assert "first-conv gradient norm" in out
    # a fresh network says which initialisation it has
    assert script.main(["model.weight_init=kaiming", "--data", "digits", "--images", "16", "--activations", "relu"]) == 0
    assert "fresh (model.weight_init=kaiming)" in capsys.readouterr().out


def _relu_vgg8_after(script, steps, *options):
    args = script.parse_args(["--data", "digits", "--batch-size", "64", *options])
    cfg = script.compose(script.overrides_for(args, "relu"))
    images, targets = script.test_batch(cfg, 64)
    model, _ = script.trained_model(cfg, steps)
    return script.diagnose(model, images, targets)


def test_adam_at_table_2s_lr_kills_a_relu_vgg8_and_the_diagnosis_shows_it(script):
    """Adam lr 0.002 (A.3.2's MNIST setting), 20 steps of batch 64 on digits: block 2's
    ReLU is dead for every test image, the logits are one constant, the first
    convolution's gradient is exactly zero."""
    d = _relu_vgg8_after(script, 20, "--optim", "adam", "--lr", "0.002")
    assert d.dead[1] == 1.0 and d.blind[1:] == [1.0] * 4
    assert d.logit_std == 0.0 and d.grad_zero


@pytest.mark.slow
def test_sgd_of_appendix_a32_keeps_the_same_relu_vgg8_alive(script):
    """A.3.2's other optimiser, SGD lr 0.01 momentum 0.5, over the same 20 steps: every block
    keeps most of its units, the first convolution still gets a gradient."""
    d = _relu_vgg8_after(script, 20, "--optim", "sgd", "--lr", "0.01")
    assert max(d.dead) < 0.6 and d.logit_std > 0 and not d.grad_zero


def test_bad_overrides_and_options_are_one_line(script, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        script.main(["optim.nonsense=1", "--data", "digits", "--activations", "relu"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("signal_scale.py: the overrides ") and "optim.nonsense=1" in err[0]
    assert "activation=relu" in err[0]
    assert err[1].startswith("hint: give them as pau-train takes them")
    # argparse hands --activations every word after it: an override there is named, not run
    with pytest.raises(SystemExit):
        script.main(["--data", "digits", "--activations", "relu", "model.weight_init=kaiming"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == ("signal_scale.py: model.weight_init=kaiming came after --activations and was read as "
                      "activation names")
    assert err[1] == "hint: put KEY=VALUE overrides before --activations"
    with pytest.raises(SystemExit):
        script.main(["--data", "digits", "--steps", "-1"])
    assert "--steps must be >= 0" in capsys.readouterr().err
