"""Dataset registry: built-in mini sets and real-data folders whose root comes from config or an env var."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.core.registry import Registry
from tasks.data.imagefolder import LAYOUT_HELP, DatasetNotFoundError, ImageFolder, Protocol
from tasks.data.mini import VERSION as MINI_VERSION
from tasks.data.mini import build_mini_digits, build_mini_faces, build_mini_natural
from tasks.data.options import DEFAULTS


@dataclass(frozen=True)
class DatasetEntry:
    """Where a dataset lives and which split names it uses."""

    name: str
    description: str
    env_var: str | None = None
    builder: Callable[[], Path] | None = None  # for sets vqbench builds itself
    train_split: str = "train"
    val_split: str = "val"
    num_classes: int = 1
    version: str = ""  # recipe version of sets vqbench builds; part of every stage key that reads them
    train_images: int | None = None  # nominal train-split size: paper recipes in epochs convert with it when no data

    def resolve_root(self, root: str | None) -> Path:
        """Configured root, else the env var, else the built-in builder; or a clear error."""
        if root:
            return Path(root).expanduser()
        if self.env_var and os.environ.get(self.env_var):
            return Path(os.environ[self.env_var]).expanduser()
        if self.builder is not None:
            return self.builder()
        raise DatasetNotFoundError(
            f"dataset '{self.name}' has no root: set dataset.root=/path/to/{self.name} or export "
            f"{self.env_var}=/path/to/{self.name}, with <root>/{self.train_split}/... and <root>/{self.val_split}/... "
            "(ImageNet: one folder per class inside each split)")

    def check(self, root: str | None) -> None:
        """Cheap pre-flight check (no file listing): the root and both split folders exist."""
        path = self.resolve_root(root)
        for split in (self.train_split, self.val_split):
            if not (path / split).is_dir():
                raise DatasetNotFoundError(f"dataset '{self.name}': folder '{path / split}' does not exist; "
                                           f"{LAYOUT_HELP}")

    def open(self, split: str, protocol: Protocol, root: str | None = None, on_corrupt: str = DEFAULTS.on_corrupt,
             max_images: int | None = None, file_list: str | None = None, subset_seed: int = 0) -> ImageFolder:
        """The split as an ImageFolder with the given protocol (max_images: a seeded random draw)."""
        name = {"train": self.train_split, "val": self.val_split}.get(split, split)
        return ImageFolder(self.resolve_root(root), name, protocol, on_corrupt, max_images, file_list, subset_seed)


DATASETS: Registry[DatasetEntry] = Registry("dataset")
for _entry in (
    DatasetEntry("mini_natural", "crops of 9 photos shipped by scikit-image/scikit-learn; val photos unseen in train",
                 builder=build_mini_natural, version=MINI_VERSION),
    DatasetEntry("mini_digits", "sklearn's 1,797 handwritten digits (8x8 grey, 10 classes; ~1,500 train / ~300 val)",
                 builder=build_mini_digits, num_classes=10, version=MINI_VERSION),
    DatasetEntry("mini_faces", "the 100 faces of skimage.data.lfw_subset() (25x25 grey, 80 train / 20 val)",
                 builder=build_mini_faces, version=MINI_VERSION),
    DatasetEntry("imagenet", "ILSVRC-2012, 1.28M train / 50k val, class folders", env_var="VQBENCH_IMAGENET",
                 num_classes=1000, train_images=1_281_167),
    DatasetEntry("ffhq", "FFHQ 1024->256, 60k train / 10k val (taming split)", env_var="VQBENCH_FFHQ",
                 val_split="validation", train_images=60_000),
    DatasetEntry("lsun_church", "LSUN church_outdoor", env_var="VQBENCH_LSUN_CHURCH", train_images=126_227),
    DatasetEntry("lsun_bedroom", "LSUN bedroom", env_var="VQBENCH_LSUN_BEDROOM", train_images=3_033_042),
    DatasetEntry("lsun_cat", "LSUN cat", env_var="VQBENCH_LSUN_CAT", train_images=1_657_266),
):
    DATASETS.add(_entry.name, _entry)
