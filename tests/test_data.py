"""Data modules: in-memory batching, sharding, per-sample augmentation, missing data."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pau.repro.data import DatasetNotFoundError, ShardedBatchSampler, create_datamodule
from pau.repro.data.memory import DatasetCorruptError, DatasetDownloadError
from pau.repro.errors import UserError
from pau.repro.data.transforms import normalize, random_crop, random_hflip

MNIST_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_training_batches_shard_a_seeded_permutation():
    epoch0 = [list(ShardedBatchSampler(10, 2, shuffle=True, seed=1, rank=r, world_size=2)) for r in range(2)]
    indices = [torch.cat(batches).tolist() for batches in epoch0]
    assert sorted(indices[0] + indices[1]) == list(range(10))  # disjoint, complete
    assert [len(b) for b in epoch0[0]] == [2, 2, 1] and len(epoch0[0]) == len(epoch0[1])
    again = torch.cat(list(ShardedBatchSampler(10, 2, shuffle=True, seed=1, rank=0, world_size=2))).tolist()
    assert again == indices[0]  # a function of (seed, epoch) only
    sampler = ShardedBatchSampler(10, 2, shuffle=True, seed=1, rank=0, world_size=2)
    sampler.set_epoch(1)
    assert torch.cat(list(sampler)).tolist() != indices[0]


def test_uneven_training_shards_wrap_around_and_drop_last():
    shards = [torch.cat(list(ShardedBatchSampler(7, 2, shuffle=True, rank=r, world_size=3))) for r in range(3)]
    assert all(len(s) == 3 for s in shards)  # padded to 9 by repeating samples
    assert set(torch.cat(shards).tolist()) == set(range(7))
    dropped = ShardedBatchSampler(7, 2, shuffle=True, rank=0, world_size=1, drop_last=True)
    assert len(dropped) == 3 and all(len(b) == 2 for b in dropped)


def test_evaluation_sees_every_sample_once_in_equal_batch_counts():
    samplers = [ShardedBatchSampler(11, 4, shuffle=False, rank=r, world_size=3) for r in range(3)]
    batches = [list(s) for s in samplers]
    assert len({len(b) for b in batches}) == 1 and len(batches[0]) == len(samplers[0])
    assert sorted(torch.cat([torch.cat(b) for b in batches]).tolist()) == list(range(11))


def test_random_crop_takes_a_window_of_the_padded_image_per_sample():
    torch.manual_seed(0)
    images = torch.arange(64 * 3 * 6 * 6, dtype=torch.float32).reshape(64, 3, 6, 6)
    out = random_crop(images, padding=2)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(images)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert found, f"sample {i} is not a crop of its padded image"
        offsets.add(found[0])
    assert len(offsets) > 5  # offsets are drawn per sample
    assert random_crop(images, 0) is images


def test_random_hflip_mirrors_some_samples():
    torch.manual_seed(0)
    images = torch.randn(32, 1, 4, 4)
    out = random_hflip(images)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    assert all(f or torch.equal(o, i) for f, o, i in zip(flipped, out, images))
    assert 0 < sum(flipped) < len(images)


def test_normalize_is_per_channel():
    x = torch.ones(2, 3, 2, 2)
    out = normalize(x, [0.0, 1.0, 0.5], [1.0, 1.0, 0.25])
    assert out[:, 0].eq(1).all() and out[:, 1].eq(0).all() and out[:, 2].eq(2).all()


def test_batches_are_scaled_normalised_and_augmented_only_in_training():
    dm = create_datamodule("synthetic", in_channels=3, image_size=8, num_train=16, num_test=8, batch_size=4,
                           mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], random_crop_padding=4, random_hflip=True)
    images = torch.full((4, 3, 8, 8), 255, dtype=torch.uint8)
    targets = torch.zeros(4, dtype=torch.long)
    dm.trainer = SimpleNamespace(training=False)
    x, y = dm.on_after_batch_transfer((images, targets), 0)
    assert x.dtype == torch.float32 and torch.allclose(x, torch.full_like(x, 2.0)) and y is targets
    dm.trainer = SimpleNamespace(training=True)
    torch.manual_seed(0)
    x, _ = dm.on_after_batch_transfer((images, targets), 0)
    assert (x == -2.0).any()  # zero padding shifted in by the random crop


def test_synthetic_data_follows_the_configured_shape_and_seed():
    kwargs = dict(in_channels=3, image_size=12, num_classes=4, num_train=20, num_test=6, batch_size=5)
    a, b = create_datamodule("synthetic", **kwargs), create_datamodule("synthetic", **kwargs)
    a.setup(), b.setup()
    assert a.train_set.images.shape == (20, 3, 12, 12) and a.test_set.images.shape == (6, 3, 12, 12)
    assert torch.equal(a.train_set.images, b.train_set.images)
    assert int(a.train_set.targets.max()) < 4
    loader = a.train_dataloader()
    batches = list(loader)
    assert len(batches) == 4 and batches[0][0].shape == (5, 3, 12, 12)
    other = create_datamodule("synthetic", data_seed=1, **kwargs)
    other.setup()
    assert not torch.equal(other.train_set.images, a.train_set.images)


def test_digits_are_mnist_shaped_with_a_fixed_stratified_split():
    dm = create_datamodule("digits", image_size=32, batch_size=64)
    dm.verify()
    assert dm.train_set.images.shape == (1437, 1, 32, 32) and dm.test_set.images.shape == (360, 1, 32, 32)
    assert dm.train_set.images.dtype == torch.uint8
    assert torch.bincount(dm.test_set.targets, minlength=10).min() >= 35  # stratified: ~36 per class
    again = create_datamodule("digits", image_size=32)
    again.setup()
    assert torch.equal(again.test_set.targets, dm.test_set.targets)
    # the digit sits in the middle, as in MNIST: the border rows are empty
    assert dm.train_set.images[:, :, :2].max() == 0


def test_subsets_are_fixed_whatever_the_run_seed():
    a = create_datamodule("digits", train_subset=100, test_subset=50, seed=1)
    b = create_datamodule("digits", train_subset=100, test_subset=50, seed=2)
    a.setup(), b.setup()
    assert len(a.train_set) == 100 and len(a.test_set) == 50
    assert torch.equal(a.train_set.targets, b.train_set.targets)


@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason="the MNIST files are not here")
def test_mnist_is_decoded_once_into_32x32_tensors():
    dm = create_datamodule("mnist", root=str(MNIST_ROOT), image_size=32, mean=[0.1307], std=[0.3081])
    dm.verify()
    assert dm.train_set.images.shape == (60000, 1, 32, 32) and dm.test_set.images.shape == (10000, 1, 32, 32)
    assert dm.train_set.targets[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's first training labels


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw"),
                                          ("cifar10", "cifar-10-batches-py"), ("imagenet", "imagenet")])
def test_a_missing_data_set_says_where_it_looked_and_how_to_fix_it(tmp_path, name, folder):
    dm = create_datamodule(name, root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as err:
        dm.verify()
    message = str(err.value)
    assert str(tmp_path / folder) in message and "data.root" in message and "\n" not in message
    assert isinstance(err.value, UserError)
    assert not list(tmp_path.rglob("*"))  # nothing fetched or created behind one's back


def test_imagenet_reads_an_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40 + i, 36), color=(40 * i, 100, 200)).save(folder / f"{i}.png")
    dm = create_datamodule("imagenet", root=str(tmp_path), image_size=32, batch_size=4, eval_batch_size=6,
                           num_workers=0)
    dm.verify()
    dm.setup("fit")
    images, targets = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    images, targets = next(iter(dm.val_dataloader()))
    assert images.shape == (6, 3, 32, 32) and sorted(targets.tolist()) == [0, 0, 0, 1, 1, 1]


def _fake_idx(path: Path, shape, keep: int | None = None) -> None:
    """An IDX file of ``shape`` (uint8), cut to ``keep`` bytes if given."""
    header = bytes([0, 0, 0x08, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)
    body = bytes(int(torch.tensor(shape).prod()))
    data = header + body
    path.write_bytes(data if keep is None else data[:keep])


def _fake_mnist(root: Path, cut: str | None = None, keep: int = 1000) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shapes = {"train-images-idx3-ubyte": (60, 28, 28), "train-labels-idx1-ubyte": (60,),
              "t10k-images-idx3-ubyte": (10, 28, 28), "t10k-labels-idx1-ubyte": (10,)}
    for name, shape in shapes.items():
        _fake_idx(raw / name, shape, keep if name == cut else None)
    return raw


def test_whole_idx_files_are_read(tmp_path):
    _fake_mnist(tmp_path)
    dm = create_datamodule("mnist", root=str(tmp_path))
    dm.verify()
    assert dm.train_set.images.shape == (60, 1, 28, 28) and len(dm.test_set) == 10


def test_a_truncated_mnist_file_is_corrupt_with_its_size_against_the_expected(tmp_path):
    raw = _fake_mnist(tmp_path, cut="train-images-idx3-ubyte", keep=1000)
    dm = create_datamodule("mnist", root=str(tmp_path))
    with pytest.raises(DatasetCorruptError) as err:
        dm.verify()
    message = str(err.value)
    assert isinstance(err.value, UserError) and not isinstance(err.value, DatasetNotFoundError)
    assert str(raw / "train-images-idx3-ubyte") in message and "corrupt" in message
    assert "1,000 bytes" in message and f"{16 + 60 * 28 * 28:,}" in message
    assert "\n" not in message


def test_a_file_that_is_not_idx_is_corrupt(tmp_path):
    raw = _fake_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_text("<html>404</html>")
    with pytest.raises(DatasetCorruptError, match="t10k-labels-idx1-ubyte.*16 bytes that do not start with an IDX"):
        create_datamodule("mnist", root=str(tmp_path)).verify()


def test_a_missing_mnist_file_is_named(tmp_path):
    raw = _fake_mnist(tmp_path)
    (raw / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"Missing: t10k-images-idx3-ubyte\. "):
        create_datamodule("mnist", root=str(tmp_path)).verify()


def test_a_corrupt_cifar_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch", "batches.meta"):
        (folder / name).write_bytes(b"x" * 10)
    with pytest.raises(DatasetCorruptError, match=r"data_batch_1 is corrupt: 10 bytes whose MD5 is not"):
        create_datamodule("cifar10", root=str(tmp_path)).verify()


def test_a_failed_download_is_one_user_error(tmp_path, monkeypatch):
    from pau.repro.data import sources

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(sources.MNISTDataModule, "dataset_cls", offline)
    dm = create_datamodule("mnist", root=str(tmp_path), download=True)
    with pytest.raises(DatasetDownloadError, match=r"could not be downloaded into .*MNIST/raw: Error downloading"):
        dm.verify()


def test_an_imagenet_split_without_images_is_not_found(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "imagenet" / split / "cat").mkdir(parents=True)
    dm = create_datamodule("imagenet", root=str(tmp_path), num_workers=0)
    with pytest.raises(DatasetNotFoundError, match=r"imagenet/train.*<class>/\*\.JPEG"):
        dm.setup("fit")
