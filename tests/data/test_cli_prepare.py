"""`melanoma data prepare` composes the real Hydra config and prepares data under paths.data_dir."""

from __future__ import annotations

import json

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.main import main
from melanoma_exp.config import compose


def test_data_config_keys(project_tmp):
    cfg = compose([*project_tmp])
    data = cfg.data
    assert data.source == "synthetic" and data.image_size == 224 and data.batch_size == 64
    assert data.balance == "undersample"
    assert dict(data.split) == {"val": 0.16, "test": 0.20, "group_by": "lesion_id"}
    assert set(data.augment) == {"flip", "rotate", "zoom", "contrast", "brightness"}
    assert data.raw_dir.endswith("/synthetic/raw") and data.prepared_root.endswith("/prepared")
    assert set(data.synth) == {"n", "size", "seed", "malignant_fraction", "shortcut", "masks", "sticker_rate",
                               "sticker_scale"}
    isic = compose([*project_tmp, "data=isic"]).data
    assert isic.source == "isic" and isic.raw_dir.endswith("/isic/raw")


def test_prepare_command_generates_missing_synthetic_raw_then_is_a_no_op(project_tmp, tmp_path, capsys):
    overrides = [*project_tmp, "data.image_size=24", "data.synth.n=60", "data.synth.size=32",
                 "data.split.val=0.2", "data.split.test=0.2"]
    assert main(["data", "prepare", *overrides]) == 0
    out = capsys.readouterr().out
    assert "generating synthetic raw data (60 images" in out
    assert "prepared dataset:" in out and "train" in out and DISCLAIMER in out
    raw = tmp_path / "data" / "synthetic" / "raw"
    assert (raw / "metadata.csv").is_file()
    folders = list((tmp_path / "data" / "prepared").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("synthetic-24px-undersample-")
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["image_size"] == 24 and manifest["split"]["val"] == 0.2

    assert main(["data", "prepare", *overrides]) == 0
    out = capsys.readouterr().out
    assert "up to date" in out and "generating" not in out
    assert len(list((tmp_path / "data" / "prepared").iterdir())) == 1


def test_prepare_command_on_missing_isic_folder_says_how_to_get_it(project_tmp, capsys):
    assert main(["data", "prepare", *project_tmp, "data=isic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: raw data folder") and "melanoma data download --out" in err
    assert "isic/raw" in err


def test_prepare_command_names_a_bad_setting(project_tmp, capsys):
    assert main(["data", "prepare", *project_tmp, "data.balance=smote", "data.synth.n=20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Invalid value 'smote'" in err and "data.balance" in err
