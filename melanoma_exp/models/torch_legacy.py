"""Read a PyTorch state dict saved in the legacy (pre-1.6, not zip) format, without PyTorch.

The file is five pickles and raw bytes: the magic number, the protocol version (1001), system info,
the state dict itself, then the list of storage keys; after them each storage's bytes (an 8-byte
little-endian element count, then the elements). In the state dict a tensor is
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` whose storage is a persistent
id ``('storage', storage_type, key, location, numel[, view_metadata])``: the data comes only after
the pickle, so tensors are rebuilt once every storage is read.

Unpickling runs whatever the pickle names; this reader only resolves the handful of names a state
dict needs and refuses every other one, naming it.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class LegacyCheckpointError(ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _PendingTensor:
    """A tensor whose storage bytes have not been read yet."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict = field(default_factory=dict)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        itemsize = data.dtype.itemsize
        if not self.size:
            return data[self.offset].copy()
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only what a legacy state dict pickle names; anything else is refused."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = path
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise LegacyCheckpointError(f"{self.path}: the pickle asks for {module}.{name}, which a state dict "
                                    "does not need; refusing to load it")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise LegacyCheckpointError(f"{self.path}: unexpected persistent id {saved_id!r}")
        storage_type, key, _location, numel = saved_id[1:5]
        view_metadata = saved_id[5] if len(saved_id) > 5 else None
        if view_metadata is not None:
            raise LegacyCheckpointError(f"{self.path}: storage views are not supported (storage {key})")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format ``torch.save(state_dict)`` file as NumPy arrays.

    Args:
        path: the ``.pth`` file.

    Returns:
        ``{parameter name: array}`` in the file's order (PyTorch layout: convolution kernels
        ``(out, in, kh, kw)``, dense ``(out, in)``).

    Raises:
        LegacyCheckpointError: not a legacy state dict (a zip-format file, another pickle, a truncated
            file), naming the file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise LegacyCheckpointError(f"{path}: a zip-format (PyTorch >= 1.6) checkpoint, not the legacy format")
        f.seek(0)
        try:
            magic, protocol = pickle.load(f), pickle.load(f)
        except Exception as exc:
            raise LegacyCheckpointError(f"{path}: not a PyTorch checkpoint ({exc})") from None
        if magic != _MAGIC or protocol != _PROTOCOL:
            raise LegacyCheckpointError(f"{path}: magic {magic!r} / protocol {protocol!r}, expected a legacy "
                                        f"PyTorch file ({_MAGIC:#x} / {_PROTOCOL})")
        pickle.load(f)  # system info (endianness, type sizes)
        unpickler = _StateDictUnpickler(f, path)
        state = unpickler.load()
        keys = pickle.load(f)
        for key in keys:
            storage = unpickler.storages.get(key)
            if storage is None:
                raise LegacyCheckpointError(f"{path}: storage {key!r} is listed but no tensor uses it")
            count = int.from_bytes(f.read(8), "little")
            raw = f.read(count * storage.dtype.itemsize)
            if count != storage.numel or len(raw) != count * storage.dtype.itemsize:
                raise LegacyCheckpointError(f"{path}: storage {key!r} holds {len(raw)} bytes, expected "
                                            f"{storage.numel} elements (truncated file?)")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    if not isinstance(state, dict):
        raise LegacyCheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {name: value.materialise() if isinstance(value, _PendingTensor) else np.asarray(value)
            for name, value in state.items()}
