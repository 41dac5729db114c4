"""Readers for the seven transfer datasets of Joulin et al. (ECCV 2016), in the layouts their archives extract to.

The paper evaluates penultimate features with linear probes on MIT Indoor 67, SUN397, Stanford 40 Actions, Oxford
Flowers 102, UIUC Sports and ImageNet (accuracy), and on Pascal VOC 2007 (per-class average precision). Each reader
takes the directory into which the dataset's released archives (listed with their URLs in `config/config.yaml`)
were extracted and returns a `TransferSource`. It lists
the class names and one `TransferItem` per image with its classes and its set ("train", "val", "test") in each
released split set. It also names the images that the split or label files list but that are absent on disk.

Which images become items:
- datasets with released splits: every image named by a split or label file that exists on disk. Images on disk
  that no split file names are outside the benchmark; they are counted and logged, not returned;
- UIUC Sports (no released split): every image of the eight class folders.

A missing split or label file raises FileNotFoundError naming the path and the archive that provides it. A
malformed line raises ValueError naming the file and line number.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

log = logging.getLogger(__name__)

MULTICLASS, MULTILABEL = "multiclass", "multilabel"
IMAGE_SUFFIXES = (".jpg", ".jpeg")
# Number of missing or left-out image names shown in the log. The logged count covers all of them.
LOGGED_EXAMPLES = 5


@dataclass(frozen=True)
class TransferItem:
    source: Path                 # absolute path of the image file
    labels: tuple[int, ...]      # class ids; exactly one for a multiclass dataset; the positives for multi-label
    difficult: tuple[int, ...] = ()   # multi-label only: classes marked "difficult" (ignored by VOC evaluation)
    splits: tuple[str, ...] = ()      # one entry per released split set: "train", "val", "test" or "" (unused)


@dataclass
class TransferSource:
    name: str                    # registry key, e.g. "mit_indoor67"
    task: str                    # "multiclass" or "multilabel"
    classes: list[str]           # class names, id = position
    items: list[TransferItem]
    split_sets: int              # number of released split sets (SUN397: 10; datasets without a released split: 0)
    missing: list[str]           # images named by a split/label file but absent on disk (relative names)


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers


@dataclass
class _Entry:
    """Labels and per-split-set assignment of one image while its split files are read."""

    labels: tuple[int, ...]
    splits: list[str]
    difficult: tuple[int, ...] = ()


@dataclass
class _Listing:
    """The images named by a dataset's split files, keyed by their path relative to the dataset directory."""

    split_sets: int
    entries: dict[str, _Entry] = field(default_factory=dict)
    duplicates: int = 0

    def add(self, relative: str, labels: tuple[int, ...], split_set: int, split: str, where: str) -> None:
        """Record that split file line `where` puts image `relative` with `labels` into `split` of `split_set`."""
        entry = self.entries.get(relative)
        if entry is None:
            entry = self.entries[relative] = _Entry(labels, [""] * self.split_sets)
        elif entry.labels != labels:
            raise ValueError(f"{where}: {relative} has classes {list(labels)} here but {list(entry.labels)} in an "
                             "earlier line")
        current = entry.splits[split_set]
        if current == split:
            self.duplicates += 1
            return
        if current:
            raise ValueError(f"{where}: {relative} is already in the {current} set of split set {split_set + 1}; "
                             f"an image cannot also be in the {split} set")
        entry.splits[split_set] = split


def _require_file(path: Path, provider: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. It comes from {provider}.")
    return path


def _require_dir(path: Path, provider: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"directory {path} not found. It comes from {provider}.")
    return path


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number from 1, text without surrounding blanks) for the non-blank lines of a text file."""
    with open(path, encoding="utf-8") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if text:
                    yield number, text
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not valid UTF-8 text ({error})") from error


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _images_under(directory: Path, root: Path) -> set[str]:
    """Return the image files below `directory` as paths relative to `root`, in POSIX form."""
    found: set[str] = set()
    for folder, _, files in os.walk(directory):
        prefix = Path(folder).relative_to(root).as_posix()
        found.update(f"{prefix}/{name}" for name in files if _is_image(name))
    return found


def _log_examples(names: list[str]) -> str:
    return ", ".join(names[:LOGGED_EXAMPLES]) + (", ..." if len(names) > LOGGED_EXAMPLES else "")


def _collect(name: str, root: Path, listing: _Listing, on_disk: set[str]) -> tuple[list[TransferItem], list[str]]:
    """Turn the listed images into items sorted by path; listed images absent from `on_disk` become `missing`."""
    if listing.duplicates:
        log.warning("%s: %d split file lines repeat an earlier line of the same file and were counted once", name,
                    listing.duplicates)

    items: list[TransferItem] = []
    missing: list[str] = []
    for relative in sorted(listing.entries):
        entry = listing.entries[relative]
        if relative not in on_disk:
            missing.append(relative)
            continue
        items.append(TransferItem(root / relative, entry.labels, entry.difficult, tuple(entry.splits)))

    if missing:
        log.warning("%s: %d images named by the split files are missing on disk (first: %s)", name, len(missing),
                    _log_examples(missing))
    unlisted = sorted(on_disk.difference(listing.entries))
    if unlisted:
        log.info("%s: %d images on disk are in no released split and are left out (first: %s)", name,
                 len(unlisted), _log_examples(unlisted))
    log.info("%s: %d images in %d split sets from %s", name, len(items), listing.split_sets, root)
    return items, missing


def _absolute(root: str | os.PathLike) -> Path:
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {root} not found; extract the dataset's archives into it")
    return root


# ---------------------------------------------------------------------------------------------------------------
# MIT Indoor 67


def read_mit_indoor67(root: str | os.PathLike) -> TransferSource:
    """Read MIT Indoor 67 with its released train/test split (80 and 20 images per class).

    Layout: `Images/<class>/<file>.jpg` from indoorCVPR_09.tar, and beside it `TrainImages.txt` and
    `TestImages.txt` (lines `<class>/<file>.jpg`). Classes are the sorted class names of the two lists.
    """
    root = _absolute(root)
    images = _require_dir(root / "Images", "indoorCVPR_09.tar")
    split_files = {
        "train": _require_file(root / "TrainImages.txt", "TrainImages.txt, a separate download of MIT Indoor 67"),
        "test": _require_file(root / "TestImages.txt", "TestImages.txt, a separate download of MIT Indoor 67"),
    }

    named: list[tuple[str, str, str, str]] = []
    for split, path in split_files.items():
        for number, line in _numbered_lines(path):
            class_name, _, file_name = line.partition("/")
            if not class_name or not file_name or "/" in file_name:
                raise ValueError(f"{path}:{number}: {line!r} is not of the form <class>/<file>")
            named.append((class_name, line, split, f"{path}:{number}"))

    classes = sorted({class_name for class_name, *_ in named})
    class_ids = {class_name: index for index, class_name in enumerate(classes)}
    listing = _Listing(split_sets=1)
    for class_name, line, split, where in named:
        listing.add(f"Images/{line}", (class_ids[class_name],), 0, split, where)

    items, missing = _collect("mit_indoor67", root, listing, _images_under(images, root))
    return TransferSource("mit_indoor67", MULTICLASS, classes, items, 1, missing)


# ---------------------------------------------------------------------------------------------------------------
# SUN397

SUN397_PARTITIONS = 10
_SUN397_CLASS_LINE = re.compile(r"/[a-z]/\S+")


def _read_sun397_classes(path: Path) -> list[str]:
    """Return the class directories of `ClassName.txt` (lines `/a/abbey`), e.g. `/a/abbey`, in file order."""
    directories = []
    for number, line in _numbered_lines(path):
        if not _SUN397_CLASS_LINE.fullmatch(line):
            raise ValueError(f"{path}:{number}: {line!r} is not a class directory such as /a/abbey")
        directories.append(line)
    if len(set(directories)) != len(directories):
        raise ValueError(f"{path}: a class directory is listed more than once")
    return directories


def _find_sun397_partitions(root: Path) -> Path:
    """Return the directory that contains `Training_01.txt`: the dataset directory or its `Partitions/` folder."""
    for candidate in (root, root / "Partitions"):
        if (candidate / "Training_01.txt").is_file():
            return candidate
    raise FileNotFoundError(f"{root / 'Training_01.txt'} not found (nor in {root / 'Partitions'}). It comes from "
                            f"Partitions.zip, to be extracted into {root}.")


def read_sun397(root: str | os.PathLike) -> TransferSource:
    """Read SUN397 with its ten released partitions (50 train and 50 test images per class in each).

    Layout: `SUN397/<letter>/<class>/sun_*.jpg` and `SUN397/ClassName.txt` from SUN397.tar.gz, and
    `Training_01.txt` .. `Testing_10.txt` (lines `/a/abbey/sun_xxx.jpg`) from Partitions.zip. Classes are in
    ClassName.txt order, named by the directory after the letter, e.g. `abbey` or `apartment_building/outdoor`.
    """
    root = _absolute(root)
    data = _require_dir(root / "SUN397", "SUN397.tar.gz")
    directories = _read_sun397_classes(_require_file(data / "ClassName.txt", "SUN397.tar.gz"))
    class_ids = {directory: index for index, directory in enumerate(directories)}
    partitions = _find_sun397_partitions(root)

    listing = _Listing(split_sets=SUN397_PARTITIONS)
    for partition in range(SUN397_PARTITIONS):
        for prefix, split in (("Training", "train"), ("Testing", "test")):
            path = _require_file(partitions / f"{prefix}_{partition + 1:02d}.txt", "Partitions.zip")
            for number, line in _numbered_lines(path):
                directory, _, file_name = line.rpartition("/")
                if directory not in class_ids or not file_name:
                    raise ValueError(f"{path}:{number}: {line!r} is not an image of a class directory of "
                                     f"{data / 'ClassName.txt'}, such as /a/abbey/sun_aaa.jpg")
                listing.add(f"SUN397{line}", (class_ids[directory],), partition, split, f"{path}:{number}")

    classes = [directory[3:] for directory in directories]
    items, missing = _collect("sun397", root, listing, _images_under(data, root))
    return TransferSource("sun397", MULTICLASS, classes, items, SUN397_PARTITIONS, missing)


# ---------------------------------------------------------------------------------------------------------------
# Stanford 40 Actions


def _read_stanford40_actions(path: Path) -> dict[str, int]:
    """Return action -> image count from `actions.txt`: a header line, then `<action><tab><count>` lines."""
    actions: dict[str, int] = {}
    for number, line in _numbered_lines(path):
        if number == 1:
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{path}:{number}: {line!r} is not '<action> <number of images>'")
        if fields[0] in actions:
            raise ValueError(f"{path}:{number}: action {fields[0]!r} is listed twice")
        actions[fields[0]] = int(fields[1])
    return actions


def read_stanford40(root: str | os.PathLike) -> TransferSource:
    """Read Stanford 40 Actions with its released train/test split.

    Layout: `JPEGImages/<action>_<nnn>.jpg`, and `ImageSplits/actions.txt` with the per-action lists
    `ImageSplits/<action>_train.txt` and `<action>_test.txt` (one file name per line). Classes are the sorted actions.
    """
    root = _absolute(root)
    images = _require_dir(root / "JPEGImages", "Stanford40_JPEGImages.zip")
    splits_dir = root / "ImageSplits"
    actions = _read_stanford40_actions(_require_file(splits_dir / "actions.txt", "Stanford40_ImageSplits.zip"))
    classes = sorted(actions)

    listing = _Listing(split_sets=1)
    for class_id, action in enumerate(classes):
        listed = 0
        for split in ("train", "test"):
            path = _require_file(splits_dir / f"{action}_{split}.txt", "Stanford40_ImageSplits.zip")
            for number, file_name in _numbered_lines(path):
                if "/" in file_name or not file_name.startswith(f"{action}_") or not _is_image(file_name):
                    raise ValueError(f"{path}:{number}: {file_name!r} is not an image file name {action}_<nnn>.jpg")
                listing.add(f"JPEGImages/{file_name}", (class_id,), 0, split, f"{path}:{number}")
                listed += 1
        if listed != actions[action]:
            log.warning("stanford40: actions.txt gives %d images for %s, but its split files list %d",
                        actions[action], action, listed)

    items, missing = _collect("stanford40", root, listing, _images_under(images, root))
    return TransferSource("stanford40", MULTICLASS, classes, items, 1, missing)


# ---------------------------------------------------------------------------------------------------------------
# Oxford Flowers 102

FLOWERS102_CLASSES = 102
_FLOWERS102_SETS = {"trnid": "train", "valid": "val", "tstid": "test"}


def _flowers102_class_names() -> list[str]:
    """Return the class names that torchvision lists (`Flowers102.classes`, in label order), else "1".."102".

    The released .mat files hold only label numbers; the fallback names are those numbers (id = number - 1).
    """
    try:
        from torchvision.datasets import Flowers102
    except ImportError:
        Flowers102 = None
    names = list(getattr(Flowers102, "classes", []))
    if len(names) == FLOWERS102_CLASSES:
        return names
    log.warning("flowers102: torchvision provides no list of the %d class names; naming classes by their label "
                "numbers", FLOWERS102_CLASSES)
    return [str(number) for number in range(1, FLOWERS102_CLASSES + 1)]


def _load_mat_vector(path: Path, variable: str) -> list[int]:
    """Return a 1-D integer variable of a MATLAB file, as Python ints."""
    import numpy as np
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, squeeze_me=True)
    except (ValueError, TypeError, OSError) as error:
        raise ValueError(f"{path}: not a readable MATLAB file ({error})") from error
    if variable not in contents:
        raise ValueError(f"{path}: variable {variable!r} not found; the file has "
                         f"{sorted(key for key in contents if not key.startswith('__'))}")
    values = np.atleast_1d(np.asarray(contents[variable]))
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.number) or np.any(values != np.round(values)):
        raise ValueError(f"{path}: variable {variable!r} is not a vector of integers (shape {values.shape}, "
                         f"dtype {values.dtype})")
    return [int(value) for value in values]


def read_flowers102(root: str | os.PathLike) -> TransferSource:
    """Read Oxford Flowers 102 with its released train/val/test split.

    Layout: `jpg/image_00001.jpg` .. from 102flowers.tgz, and beside `jpg/` the files `imagelabels.mat` (variable
    `labels`, 1..102 per image) and `setid.mat` (`trnid`, `valid`, `tstid`: 1-based image numbers).
    """
    root = _absolute(root)
    images = _require_dir(root / "jpg", "102flowers.tgz")
    labels_path = _require_file(root / "imagelabels.mat", "imagelabels.mat, a separate download of Flowers 102")
    sets_path = _require_file(root / "setid.mat", "setid.mat, a separate download of Flowers 102")

    labels = _load_mat_vector(labels_path, "labels")
    for index, label in enumerate(labels):
        if not 1 <= label <= FLOWERS102_CLASSES:
            raise ValueError(f"{labels_path}: labels[{index}] (image {index + 1}) is {label}, outside "
                             f"1..{FLOWERS102_CLASSES}")

    listing = _Listing(split_sets=1)
    for variable, split in _FLOWERS102_SETS.items():
        for index, image_number in enumerate(_load_mat_vector(sets_path, variable)):
            if not 1 <= image_number <= len(labels):
                raise ValueError(f"{sets_path}: {variable}[{index}] is image {image_number}, but "
                                 f"{labels_path.name} labels images 1..{len(labels)}")
            listing.add(f"jpg/image_{image_number:05d}.jpg", (labels[image_number - 1] - 1,), 0, split,
                        f"{sets_path}: {variable}[{index}]")

    items, missing = _collect("flowers102", root, listing, _images_under(images, root))
    return TransferSource("flowers102", MULTICLASS, _flowers102_class_names(), items, 1, missing)


# ---------------------------------------------------------------------------------------------------------------
# UIUC Sports (Li & Fei-Fei, ICCV 2007, "event dataset")

# Class folder names of event_dataset.rar. NOTE: the copies seen use "sailing", and folders match case-insensitively
# in case a copy capitalises it.
UIUC_SPORTS_CLASSES = ("badminton", "bocce", "croquet", "polo", "RockClimbing", "rowing", "sailing", "snowboarding")


def read_uiuc_sports(root: str | os.PathLike) -> TransferSource:
    """Read UIUC Sports: every image of `event_img/<class>/`; the dataset has no released split (split_sets 0)."""
    root = _absolute(root)
    images = _require_dir(root / "event_img", "event_dataset.rar")
    folders = {path.name.lower(): path for path in images.iterdir() if path.is_dir()}

    items: list[TransferItem] = []
    skipped: list[str] = []
    for class_id, class_name in enumerate(UIUC_SPORTS_CLASSES):
        folder = folders.get(class_name.lower())
        if folder is None:
            raise FileNotFoundError(f"class folder {images / class_name} not found. It comes from "
                                    "event_dataset.rar.")
        for path in sorted(folder.iterdir()):
            if path.is_file() and _is_image(path.name):
                items.append(TransferItem(path, (class_id,)))
            else:
                skipped.append(path.relative_to(root).as_posix())

    if skipped:
        log.warning("uiuc_sports: %d entries of the class folders are not .jpg/.jpeg files and were skipped "
                    "(first: %s)", len(skipped), _log_examples(skipped))
    log.info("uiuc_sports: %d images in %d classes from %s", len(items), len(UIUC_SPORTS_CLASSES), root)
    return TransferSource("uiuc_sports", MULTICLASS, list(UIUC_SPORTS_CLASSES), items, 0, [])


# ---------------------------------------------------------------------------------------------------------------
# ImageNet (ILSVRC 2012)

_WNID = re.compile(r"n\d{8}")
IMAGENET_ARCHIVE = "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (a local copy; image-net.org needs an account)"


def _imagenet_image_root(root: Path) -> Path:
    """Return the folder with `train/` and `val/`: the root, or `ILSVRC/Data/CLS-LOC` of the Kaggle download."""
    kaggle = root / "ILSVRC" / "Data" / "CLS-LOC"
    return kaggle if (kaggle / "train").is_dir() and not (root / "train").is_dir() else root


def _list_wnid_folder(folder: Path, class_id: int, split: str, skipped: list[str]) -> list[TransferItem]:
    labels, splits = (class_id,), (split,)
    items = []
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if entry.is_file() and _is_image(entry.name):
            items.append(TransferItem(Path(entry.path), labels, (), splits))
        else:
            skipped.append(f"{folder.name}/{entry.name}")
    return items


def _imagenet_wnids(train: Path) -> list[str]:
    wnids, others = [], []
    for path in train.iterdir():
        (wnids if path.is_dir() and _WNID.fullmatch(path.name) else others).append(path.name)
    if others:
        log.warning("imagenet: %d entries of %s are not WordNet id folders (n########) and were skipped (first: %s)",
                    len(others), train, _log_examples(sorted(others)))
    if not wnids:
        raise FileNotFoundError(f"no class folders (n########) in {train}; extract {IMAGENET_ARCHIVE} as "
                                "torchvision's ImageNet class prepares them")
    return sorted(wnids)


def _imagenet_flat_val(root: Path, val: Path, class_ids: dict[str, int]) -> tuple[list[TransferItem], list[str]]:
    """Read the flat `val/*.JPEG` layout labelled by `LOC_val_solution.csv` (`ImageId,PredictionString`)."""
    solution = _require_file(root / "LOC_val_solution.csv",
                             "LOC_val_solution.csv of the Kaggle ImageNet download (the flat val/ layout needs it)")
    on_disk = {name for name in os.listdir(val) if _is_image(name)}
    items, missing = [], []
    with open(solution, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if number == 1 or not row:
                continue
            wnid = row[1].split(maxsplit=1)[0] if len(row) == 2 and row[1].strip() else ""
            if wnid not in class_ids:
                raise ValueError(f"{solution}:{number}: {row!r} is not '<ImageId>,<wnid> ...' with a wnid of train/")
            file_name = f"{row[0]}.JPEG"
            if file_name in on_disk:
                items.append(TransferItem(val / file_name, (class_ids[wnid],), (), ("test",)))
            else:
                missing.append(f"{val.relative_to(root).as_posix()}/{file_name}")
    return sorted(items, key=lambda item: item.source), sorted(missing)


def _imagenet_class_names(root: Path, wnids: list[str]) -> list[str]:
    """Return readable names from `LOC_synset_mapping.txt` when present, else the wnids.

    Some ImageNet names repeat ("crane" is a bird and a machine), so a repeated name gets its wnid appended.
    """
    mapping_path = root / "LOC_synset_mapping.txt"
    if not mapping_path.is_file():
        log.info("imagenet: %s not found; classes are named by WordNet id", mapping_path)
        return list(wnids)
    mapping: dict[str, str] = {}
    for number, line in _numbered_lines(mapping_path):
        wnid, _, description = line.partition(" ")
        if not _WNID.fullmatch(wnid) or not description.strip():
            raise ValueError(f"{mapping_path}:{number}: {line!r} is not '<wnid> <names>'")
        mapping[wnid] = description.strip()
    absent = [wnid for wnid in wnids if wnid not in mapping]
    if absent:
        raise ValueError(f"{mapping_path}: no names for {len(absent)} class folders of train/ (first: "
                         f"{_log_examples(absent)})")
    names = [mapping[wnid] for wnid in wnids]
    counts = Counter(names)
    return [f"{name} ({wnid})" if counts[name] > 1 else name for name, wnid in zip(names, wnids)]


def read_imagenet(root: str | os.PathLike) -> TransferSource:
    """Read a local ILSVRC 2012 copy; training images become "train" and validation images "test".

    The paper reports ImageNet results on the validation set, hence "test". Layout: `train/<wnid>/*.JPEG` and either
    `val/<wnid>/*.JPEG` (as torchvision's ImageNet class prepares them) or a flat `val/*.JPEG` labelled by
    `LOC_val_solution.csv` at the root (Kaggle, which puts `train/` and `val/` under `ILSVRC/Data/CLS-LOC/`).
    Classes are the sorted wnids, named by `LOC_synset_mapping.txt` when it is present at the root.
    """
    root = _absolute(root)
    image_root = _imagenet_image_root(root)
    train = _require_dir(image_root / "train", IMAGENET_ARCHIVE)
    val = _require_dir(image_root / "val", IMAGENET_ARCHIVE)
    wnids = _imagenet_wnids(train)
    class_ids = {wnid: index for index, wnid in enumerate(wnids)}

    skipped: list[str] = []
    items: list[TransferItem] = []
    for wnid in tqdm(wnids, desc="imagenet train folders", unit=" classes", mininterval=10):
        items.extend(_list_wnid_folder(train / wnid, class_ids[wnid], "train", skipped))

    val_folders = sorted(path.name for path in val.iterdir() if path.is_dir() and _WNID.fullmatch(path.name))
    missing: list[str] = []
    if val_folders:
        unknown = [wnid for wnid in val_folders if wnid not in class_ids]
        if unknown:
            raise ValueError(f"{val}: class folders {_log_examples(unknown)} have no folder in {train}")
        for wnid in val_folders:
            items.extend(_list_wnid_folder(val / wnid, class_ids[wnid], "test", skipped))
    else:
        val_items, missing = _imagenet_flat_val(root, val, class_ids)
        items.extend(val_items)

    if skipped:
        log.warning("imagenet: %d entries of the class folders are not .jpeg/.jpg files and were skipped (first: %s)",
                    len(skipped), _log_examples(skipped))
    if missing:
        log.warning("imagenet: %d images of LOC_val_solution.csv are missing on disk (first: %s)", len(missing),
                    _log_examples(missing))
    items.sort(key=lambda item: item.source)
    log.info("imagenet: %d images (%d train) in %d classes from %s", len(items),
             sum(item.splits == ("train",) for item in items), len(wnids), image_root)
    return TransferSource("imagenet", MULTICLASS, _imagenet_class_names(root, wnids), items, 1, missing)


# ---------------------------------------------------------------------------------------------------------------
# Pascal VOC 2007

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
_VOC_ARCHIVES = {"train": "VOCtrainval_06-Nov-2007.tar", "val": "VOCtrainval_06-Nov-2007.tar",
                 "test": "VOCtest_06-Nov-2007.tar"}
# Flags of ImageSets/Main/<class>_<set>.txt: 1 the class is present, -1 absent, 0 only "difficult" instances.
_VOC_FLAGS = {"1": 1, "-1": -1, "0": 0}


def _read_voc_class_file(path: Path) -> dict[str, int]:
    """Return image id -> flag of one `<class>_<set>.txt` file (lines `<id> <flag>`)."""
    flags: dict[str, int] = {}
    for number, line in _numbered_lines(path):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in _VOC_FLAGS:
            raise ValueError(f"{path}:{number}: {line!r} is not '<image id> <flag 1, -1 or 0>'")
        if fields[0] in flags:
            raise ValueError(f"{path}:{number}: image {fields[0]} is listed twice")
        flags[fields[0]] = _VOC_FLAGS[fields[1]]
    return flags


def _read_voc_split(main: Path, split: str, listing: _Listing) -> None:
    """Add the images of one set (train, val or test) with their positive and difficult classes to `listing`."""
    positives: dict[str, list[int]] = {}
    difficult: dict[str, list[int]] = {}
    for class_id, class_name in enumerate(VOC_CLASSES):
        path = _require_file(main / f"{class_name}_{split}.txt", _VOC_ARCHIVES[split])
        flags = _read_voc_class_file(path)
        if class_id == 0:
            positives = {image: [] for image in flags}
            difficult = {image: [] for image in flags}
        elif flags.keys() != positives.keys():
            raise ValueError(f"{path}: lists {len(flags)} images, {len(flags.keys() ^ positives.keys())} of which "
                             f"differ from the {len(positives)} of {VOC_CLASSES[0]}_{split}.txt; every class file "
                             "of a set must list the same images")
        for image, flag in flags.items():
            if flag == 1:
                positives[image].append(class_id)
            elif flag == 0:
                difficult[image].append(class_id)

    for image in positives:
        listing.add(f"VOCdevkit/VOC2007/JPEGImages/{image}.jpg", tuple(positives[image]), 0, split,
                    f"{main}/*_{split}.txt")
        listing.entries[f"VOCdevkit/VOC2007/JPEGImages/{image}.jpg"].difficult = tuple(difficult[image])


def read_voc2007(root: str | os.PathLike) -> TransferSource:
    """Read Pascal VOC 2007 classification with its released train/val/test sets (multi-label).

    Layout: `VOCdevkit/VOC2007/JPEGImages/<id>.jpg` and the per-class lists
    `VOCdevkit/VOC2007/ImageSets/Main/<class>_{train,val,test}.txt` of both archives. An image's labels are the
    classes flagged 1 and its `difficult` classes those flagged 0.
    """
    root = _absolute(root)
    base = root / "VOCdevkit" / "VOC2007"
    images = _require_dir(base / "JPEGImages", "VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar")
    main = base / "ImageSets" / "Main"

    listing = _Listing(split_sets=1)
    for split in ("train", "val", "test"):
        _read_voc_split(main, split, listing)

    items, missing = _collect("voc2007", root, listing, _images_under(images, root))
    return TransferSource("voc2007", MULTILABEL, list(VOC_CLASSES), items, 1, missing)


READERS: dict[str, Callable[[Path], TransferSource]] = {
    "mit_indoor67": read_mit_indoor67,
    "sun397": read_sun397,
    "stanford40": read_stanford40,
    "flowers102": read_flowers102,
    "uiuc_sports": read_uiuc_sports,
    "imagenet": read_imagenet,
    "voc2007": read_voc2007,
}
