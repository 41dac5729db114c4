"""Readers of the transfer datasets, each on a tiny copy of its released layout built in tmp_path."""

import functools
import io
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import yaml
from PIL import Image

from weaksup.transfer.readers import (
    READERS,
    UIUC_SPORTS_CLASSES,
    VOC_CLASSES,
    read_flowers102,
    read_imagenet,
    read_mit_indoor67,
    read_stanford40,
    read_sun397,
    read_uiuc_sports,
    read_voc2007,
)


@functools.lru_cache(maxsize=1)
def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_images(root, *relative_paths):
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes())


def write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def by_name(source, root):
    """Map each item's path relative to the dataset directory to the item."""
    return {item.source.relative_to(root.resolve()).as_posix(): item for item in source.items}


# --- MIT Indoor 67 -----------------------------------------------------------------------------------------------


@pytest.fixture
def mit_root(tmp_path):
    write_images(tmp_path, "Images/bar/b1.jpg", "Images/bar/b2.jpg", "Images/kitchen/k1.jpg",
                 "Images/kitchen/k2.jpg", "Images/kitchen/unlisted.jpg")
    # Windows line endings must read like plain ones.
    write_text(tmp_path / "TrainImages.txt", "kitchen/k1.jpg\r\nbar/b1.jpg\r\n")
    write_text(tmp_path / "TestImages.txt", "bar/b2.jpg\r\nkitchen/k2.jpg\r\nkitchen/gone.jpg\r\n")
    return tmp_path


def test_mit_indoor67_reads_split(mit_root):
    source = read_mit_indoor67(mit_root)
    items = by_name(source, mit_root)

    assert source.task == "multiclass"
    assert source.classes == ["bar", "kitchen"]
    assert source.split_sets == 1
    assert sorted(items) == ["Images/bar/b1.jpg", "Images/bar/b2.jpg", "Images/kitchen/k1.jpg",
                             "Images/kitchen/k2.jpg"]
    assert items["Images/kitchen/k1.jpg"].labels == (1,)
    assert items["Images/kitchen/k1.jpg"].splits == ("train",)
    assert items["Images/bar/b2.jpg"].labels == (0,)
    assert items["Images/bar/b2.jpg"].splits == ("test",)
    assert source.missing == ["Images/kitchen/gone.jpg"]


def test_mit_indoor67_items_sorted_absolute(mit_root):
    source = read_mit_indoor67(mit_root)
    sources = [item.source for item in source.items]

    assert sources == sorted(sources)
    assert all(path.is_absolute() for path in sources)
    assert all(path.is_file() for path in sources)


def test_mit_indoor67_malformed_line(mit_root):
    write_text(mit_root / "TestImages.txt", "bar/b2.jpg\nkitchen\n")

    with pytest.raises(ValueError, match=r"TestImages\.txt:2: 'kitchen'"):
        read_mit_indoor67(mit_root)


def test_mit_indoor67_image_in_both_sets(mit_root):
    write_text(mit_root / "TestImages.txt", "bar/b1.jpg\n")

    with pytest.raises(ValueError, match=r"TestImages\.txt:1: Images/bar/b1\.jpg is already in the train set"):
        read_mit_indoor67(mit_root)


def test_mit_indoor67_missing_split_file(mit_root):
    (mit_root / "TestImages.txt").unlink()

    with pytest.raises(FileNotFoundError, match=r"TestImages\.txt not found"):
        read_mit_indoor67(mit_root)


# --- SUN397 ------------------------------------------------------------------------------------------------------


def make_sun397(root, partitions_dir):
    write_text(root / "SUN397/ClassName.txt", "/a/abbey\n/a/apartment_building/outdoor\n/b/bar\n")
    write_images(root, "SUN397/a/abbey/sun_a1.jpg", "SUN397/a/abbey/sun_a2.jpg",
                 "SUN397/a/apartment_building/outdoor/sun_o1.jpg", "SUN397/a/apartment_building/outdoor/sun_o2.jpg",
                 "SUN397/b/bar/sun_b1.jpg", "SUN397/b/bar/sun_b9.jpg")
    for partition in range(1, 11):
        # Odd partitions train on sun_a1 and even ones on sun_a2. No partition lists sun_b9.
        first, second = ("sun_a1", "sun_a2") if partition % 2 else ("sun_a2", "sun_a1")
        write_text(partitions_dir / f"Training_{partition:02d}.txt",
                   f"/a/abbey/{first}.jpg\n/a/apartment_building/outdoor/sun_o1.jpg\n/b/bar/sun_b1.jpg\n")
        write_text(partitions_dir / f"Testing_{partition:02d}.txt",
                   f"/a/abbey/{second}.jpg\n/a/apartment_building/outdoor/sun_o2.jpg\n/b/bar/sun_gone.jpg\n")


def test_sun397_reads_ten_partitions(tmp_path):
    make_sun397(tmp_path, tmp_path)
    source = read_sun397(tmp_path)
    items = by_name(source, tmp_path)

    assert source.classes == ["abbey", "apartment_building/outdoor", "bar"]
    assert source.split_sets == 10
    assert len(source.items) == 5
    assert items["SUN397/a/abbey/sun_a1.jpg"].splits == ("train", "test") * 5
    assert items["SUN397/a/abbey/sun_a2.jpg"].splits == ("test", "train") * 5
    assert items["SUN397/a/apartment_building/outdoor/sun_o1.jpg"].labels == (1,)
    assert items["SUN397/b/bar/sun_b1.jpg"].labels == (2,)
    assert "SUN397/b/bar/sun_b9.jpg" not in items
    assert source.missing == ["SUN397/b/bar/sun_gone.jpg"]


def test_sun397_partitions_subfolder(tmp_path):
    make_sun397(tmp_path, tmp_path / "Partitions")
    source = read_sun397(tmp_path)

    assert source.split_sets == 10
    assert len(source.items) == 5


def test_sun397_unknown_class_line(tmp_path):
    make_sun397(tmp_path, tmp_path)
    write_text(tmp_path / "Training_03.txt", "/a/abbey/sun_a1.jpg\n/z/zoo/sun_z1.jpg\n")

    with pytest.raises(ValueError, match=r"Training_03\.txt:2: '/z/zoo/sun_z1\.jpg'"):
        read_sun397(tmp_path)


def test_sun397_malformed_class_name(tmp_path):
    make_sun397(tmp_path, tmp_path)
    write_text(tmp_path / "SUN397/ClassName.txt", "/a/abbey\nbar\n")

    with pytest.raises(ValueError, match=r"ClassName\.txt:2: 'bar'"):
        read_sun397(tmp_path)


def test_sun397_missing_partition_file(tmp_path):
    make_sun397(tmp_path, tmp_path)
    (tmp_path / "Testing_07.txt").unlink()

    with pytest.raises(FileNotFoundError, match=r"Testing_07\.txt not found.*Partitions\.zip"):
        read_sun397(tmp_path)


# --- Stanford 40 Actions -----------------------------------------------------------------------------------------


@pytest.fixture
def stanford_root(tmp_path):
    write_images(tmp_path, "JPEGImages/applauding_001.jpg", "JPEGImages/applauding_002.jpg",
                 "JPEGImages/waving_hands_001.jpg", "JPEGImages/waving_hands_002.jpg")
    splits = tmp_path / "ImageSplits"
    write_text(splits / "actions.txt", "action_name\tnumber_of_images\nwaving_hands\t2\napplauding\t3\n")
    write_text(splits / "applauding_train.txt", "applauding_001.jpg\n")
    write_text(splits / "applauding_test.txt", "applauding_002.jpg\napplauding_003.jpg\n")
    write_text(splits / "waving_hands_train.txt", "waving_hands_001.jpg\n")
    write_text(splits / "waving_hands_test.txt", "waving_hands_002.jpg\n")
    return tmp_path


def test_stanford40_reads_split(stanford_root):
    source = read_stanford40(stanford_root)
    items = by_name(source, stanford_root)

    assert source.classes == ["applauding", "waving_hands"]
    assert source.split_sets == 1
    assert len(source.items) == 4
    assert items["JPEGImages/applauding_001.jpg"].splits == ("train",)
    assert items["JPEGImages/applauding_002.jpg"].splits == ("test",)
    assert items["JPEGImages/waving_hands_001.jpg"].labels == (1,)
    assert source.missing == ["JPEGImages/applauding_003.jpg"]


def test_stanford40_malformed_actions_line(stanford_root):
    write_text(stanford_root / "ImageSplits/actions.txt", "action_name\tnumber_of_images\napplauding three\n")

    with pytest.raises(ValueError, match=r"actions\.txt:2: 'applauding three'"):
        read_stanford40(stanford_root)


def test_stanford40_image_of_other_action(stanford_root):
    write_text(stanford_root / "ImageSplits/applauding_train.txt", "applauding_001.jpg\nwaving_hands_001.jpg\n")

    with pytest.raises(ValueError, match=r"applauding_train\.txt:2: 'waving_hands_001\.jpg'"):
        read_stanford40(stanford_root)


def test_stanford40_missing_split_file(stanford_root):
    (stanford_root / "ImageSplits/waving_hands_test.txt").unlink()

    with pytest.raises(FileNotFoundError, match=r"waving_hands_test\.txt not found.*Stanford40_ImageSplits\.zip"):
        read_stanford40(stanford_root)


# --- Oxford Flowers 102 ------------------------------------------------------------------------------------------


@pytest.fixture
def flowers_root(tmp_path):
    write_images(tmp_path, *(f"jpg/image_{number:05d}.jpg" for number in range(1, 6)))
    # savemat writes 1 x N matrices, so the reader must flatten them.
    scipy.io.savemat(tmp_path / "imagelabels.mat", {"labels": np.array([[1, 2, 102, 1, 2, 102]], dtype=np.uint8)})
    scipy.io.savemat(tmp_path / "setid.mat", {"trnid": np.array([[1, 2]], dtype=np.uint16),
                                              "valid": np.array([[3]], dtype=np.uint16),
                                              "tstid": np.array([[4, 5, 6]], dtype=np.uint16)})
    return tmp_path


def test_flowers102_reads_mat_files(flowers_root):
    source = read_flowers102(flowers_root)
    items = by_name(source, flowers_root)

    assert len(source.classes) == 102
    assert source.split_sets == 1
    assert len(source.items) == 5
    assert items["jpg/image_00001.jpg"].labels == (0,)
    assert items["jpg/image_00001.jpg"].splits == ("train",)
    assert items["jpg/image_00003.jpg"].labels == (101,)
    assert items["jpg/image_00003.jpg"].splits == ("val",)
    assert items["jpg/image_00005.jpg"].splits == ("test",)
    assert source.missing == ["jpg/image_00006.jpg"]


def test_flowers102_class_names_from_torchvision(flowers_root):
    torchvision_datasets = pytest.importorskip("torchvision.datasets")

    source = read_flowers102(flowers_root)

    assert source.classes == list(torchvision_datasets.Flowers102.classes)


def test_flowers102_label_out_of_range(flowers_root):
    scipy.io.savemat(flowers_root / "imagelabels.mat", {"labels": np.array([[1, 2, 103, 1, 2, 3]])})

    with pytest.raises(ValueError, match=r"imagelabels\.mat: labels\[2\] \(image 3\) is 103"):
        read_flowers102(flowers_root)


def test_flowers102_image_in_two_sets(flowers_root):
    scipy.io.savemat(flowers_root / "setid.mat", {"trnid": np.array([[1, 2]]), "valid": np.array([[2]]),
                                                  "tstid": np.array([[4]])})

    with pytest.raises(ValueError, match=r"valid\[0\].*already in the train set"):
        read_flowers102(flowers_root)


def test_flowers102_missing_setid(flowers_root):
    (flowers_root / "setid.mat").unlink()

    with pytest.raises(FileNotFoundError, match=r"setid\.mat not found"):
        read_flowers102(flowers_root)


# --- UIUC Sports -------------------------------------------------------------------------------------------------


@pytest.fixture
def uiuc_root(tmp_path):
    for class_name in UIUC_SPORTS_CLASSES:
        # A capitalised "Sailing" folder checks that folders match case-insensitively.
        folder = "Sailing" if class_name == "sailing" else class_name
        write_images(tmp_path, f"event_img/{folder}/{class_name}_1.jpg", f"event_img/{folder}/{class_name}_2.JPG")
    write_text(tmp_path / "event_img/polo/Thumbs.db", "not an image")
    return tmp_path


def test_uiuc_sports_reads_folders(uiuc_root):
    source = read_uiuc_sports(uiuc_root)
    items = by_name(source, uiuc_root)

    assert source.classes == list(UIUC_SPORTS_CLASSES)
    assert source.split_sets == 0
    assert len(source.items) == 16
    assert items["event_img/Sailing/sailing_2.JPG"].labels == (6,)
    assert items["event_img/badminton/badminton_1.jpg"].labels == (0,)
    assert all(item.splits == () for item in source.items)
    assert "event_img/polo/Thumbs.db" not in items
    assert source.missing == []


def test_uiuc_sports_missing_class_folder(uiuc_root):
    for path in (uiuc_root / "event_img/rowing").iterdir():
        path.unlink()
    (uiuc_root / "event_img/rowing").rmdir()

    with pytest.raises(FileNotFoundError, match=r"event_img/rowing not found.*event_dataset\.rar"):
        read_uiuc_sports(uiuc_root)


# --- ImageNet ----------------------------------------------------------------------------------------------------

TENCH, GOLDFISH = "n01440764", "n01443537"


@pytest.fixture
def imagenet_root(tmp_path):
    write_images(tmp_path, f"train/{TENCH}/{TENCH}_1.JPEG", f"train/{TENCH}/{TENCH}_2.JPEG",
                 f"train/{GOLDFISH}/{GOLDFISH}_1.JPEG", f"val/{TENCH}/ILSVRC2012_val_00000002.JPEG",
                 f"val/{GOLDFISH}/ILSVRC2012_val_00000001.JPEG")
    return tmp_path


def test_imagenet_reads_torchvision_layout(imagenet_root):
    source = read_imagenet(imagenet_root)
    items = by_name(source, imagenet_root)

    assert source.classes == [TENCH, GOLDFISH]
    assert source.split_sets == 1
    assert len(source.items) == 5
    assert items[f"train/{TENCH}/{TENCH}_2.JPEG"].labels == (0,)
    assert items[f"train/{TENCH}/{TENCH}_2.JPEG"].splits == ("train",)
    assert items[f"val/{GOLDFISH}/ILSVRC2012_val_00000001.JPEG"].labels == (1,)
    assert items[f"val/{GOLDFISH}/ILSVRC2012_val_00000001.JPEG"].splits == ("test",)
    assert source.missing == []


def test_imagenet_synset_names(imagenet_root):
    write_text(imagenet_root / "LOC_synset_mapping.txt",
               f"{TENCH} tench, Tinca tinca\n{GOLDFISH} goldfish, Carassius auratus\n")

    source = read_imagenet(imagenet_root)

    assert source.classes == ["tench, Tinca tinca", "goldfish, Carassius auratus"]


def test_imagenet_repeated_name_gets_wnid(imagenet_root):
    write_text(imagenet_root / "LOC_synset_mapping.txt", f"{TENCH} crane\n{GOLDFISH} crane\n")

    source = read_imagenet(imagenet_root)

    assert source.classes == [f"crane ({TENCH})", f"crane ({GOLDFISH})"]


@pytest.fixture
def kaggle_root(tmp_path):
    images = "ILSVRC/Data/CLS-LOC"
    write_images(tmp_path, f"{images}/train/{TENCH}/{TENCH}_1.JPEG", f"{images}/train/{GOLDFISH}/{GOLDFISH}_1.JPEG",
                 f"{images}/val/ILSVRC2012_val_00000001.JPEG", f"{images}/val/ILSVRC2012_val_00000002.JPEG")
    write_text(tmp_path / "LOC_val_solution.csv",
               "ImageId,PredictionString\n"
               f"ILSVRC2012_val_00000002,{TENCH} 10 20 30 40 {TENCH} 1 2 3 4\n"
               f"ILSVRC2012_val_00000001,{GOLDFISH} 5 6 7 8\n"
               f"ILSVRC2012_val_00000003,{GOLDFISH} 5 6 7 8\n")
    return tmp_path


def test_imagenet_flat_val_with_solution(kaggle_root):
    source = read_imagenet(kaggle_root)
    items = by_name(source, kaggle_root)

    assert source.classes == [TENCH, GOLDFISH]
    assert len(source.items) == 4
    assert items["ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000002.JPEG"].labels == (0,)
    assert items["ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000002.JPEG"].splits == ("test",)
    assert items["ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG"].labels == (1,)
    assert source.missing == ["ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000003.JPEG"]


def test_imagenet_solution_unknown_wnid(kaggle_root):
    write_text(kaggle_root / "LOC_val_solution.csv",
               f"ImageId,PredictionString\nILSVRC2012_val_00000001,{GOLDFISH} 1 2 3 4\n"
               "ILSVRC2012_val_00000002,n09999999 1 2 3 4\n")

    with pytest.raises(ValueError, match=r"LOC_val_solution\.csv:3"):
        read_imagenet(kaggle_root)


def test_imagenet_flat_val_needs_solution(kaggle_root):
    (kaggle_root / "LOC_val_solution.csv").unlink()

    with pytest.raises(FileNotFoundError, match=r"LOC_val_solution\.csv not found"):
        read_imagenet(kaggle_root)


def test_imagenet_missing_train(tmp_path):
    write_images(tmp_path, f"val/{TENCH}/a.JPEG")

    with pytest.raises(FileNotFoundError, match=r"train not found.*ILSVRC2012_img_train\.tar"):
        read_imagenet(tmp_path)


# --- Pascal VOC 2007 ---------------------------------------------------------------------------------------------

# image id -> (set, positive classes, difficult classes)
VOC_IMAGES = {
    "000005": ("train", ["chair"], ["diningtable"]),
    "000007": ("train", ["car"], []),
    "000009": ("val", ["dog", "person"], []),
    "000001": ("test", ["dog", "person"], ["chair"]),
    "000002": ("test", ["train"], []),
}


def write_voc_lists(main, images):
    for split in ("train", "val", "test"):
        for class_name in VOC_CLASSES:
            lines = []
            for image, (image_split, positives, difficult) in images.items():
                if image_split == split:
                    flag = "-1"
                    if class_name in positives:
                        flag = "1"
                    elif class_name in difficult:
                        flag = "0"
                    # Padding the flag to two characters mixes one- and two-blank separators, as in "000007  1".
                    lines.append(f"{image} {flag:>2}\n")
            write_text(main / f"{class_name}_{split}.txt", "".join(lines))


@pytest.fixture
def voc_root(tmp_path):
    base = tmp_path / "VOCdevkit/VOC2007"
    write_images(base, *(f"JPEGImages/{image}.jpg" for image in VOC_IMAGES if image != "000002"))
    write_voc_lists(base / "ImageSets/Main", VOC_IMAGES)
    return tmp_path


def test_voc2007_reads_multilabel(voc_root):
    source = read_voc2007(voc_root)
    items = by_name(source, voc_root)
    chair, dog, person = (VOC_CLASSES.index(name) for name in ("chair", "dog", "person"))

    assert source.task == "multilabel"
    assert source.classes == list(VOC_CLASSES)
    assert source.split_sets == 1
    assert len(source.items) == 4
    assert items["VOCdevkit/VOC2007/JPEGImages/000005.jpg"].labels == (chair,)
    assert items["VOCdevkit/VOC2007/JPEGImages/000005.jpg"].difficult == (VOC_CLASSES.index("diningtable"),)
    assert items["VOCdevkit/VOC2007/JPEGImages/000005.jpg"].splits == ("train",)
    assert items["VOCdevkit/VOC2007/JPEGImages/000009.jpg"].labels == (dog, person)
    assert items["VOCdevkit/VOC2007/JPEGImages/000009.jpg"].splits == ("val",)
    assert items["VOCdevkit/VOC2007/JPEGImages/000001.jpg"].difficult == (chair,)
    assert items["VOCdevkit/VOC2007/JPEGImages/000001.jpg"].splits == ("test",)
    assert source.missing == ["VOCdevkit/VOC2007/JPEGImages/000002.jpg"]


def test_voc2007_malformed_flag(voc_root):
    write_text(voc_root / "VOCdevkit/VOC2007/ImageSets/Main/cat_val.txt", "000009  2\n")

    with pytest.raises(ValueError, match=r"cat_val\.txt:1: '000009  2'"):
        read_voc2007(voc_root)


def test_voc2007_class_files_disagree(voc_root):
    write_text(voc_root / "VOCdevkit/VOC2007/ImageSets/Main/bus_train.txt", "000005 -1\n")

    with pytest.raises(ValueError, match=r"bus_train\.txt: lists 1 images"):
        read_voc2007(voc_root)


def test_voc2007_missing_test_lists(voc_root):
    (voc_root / "VOCdevkit/VOC2007/ImageSets/Main/tvmonitor_test.txt").unlink()

    with pytest.raises(FileNotFoundError, match=r"tvmonitor_test\.txt not found.*VOCtest_06-Nov-2007\.tar"):
        read_voc2007(voc_root)


# --- Registry and downloads --------------------------------------------------------------------------------------


def test_registry_matches_paper_config():
    config = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())
    datasets = config["transfer"]["datasets"]

    assert set(READERS) == set(datasets)
    for name, settings in datasets.items():
        assert settings.get("path") or settings.get("downloads"), name


def test_missing_dataset_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset directory"):
        read_mit_indoor67(tmp_path / "absent")
