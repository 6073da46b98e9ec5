"""Pixels on disk: the shard record format of a prepared dataset, and prepare's resumable chunks.

Shards (TFRecord of tf.train.Example): each record holds one image decoded and resized once:
`image` = raw uint8 bytes of an (S, S, 3) RGB array in row-major HWC order, `label` = int64
(1 = malignant), `isic_id` = bytes. Raw pixels (not JPEG) mean an epoch does no image decoding at
all: reading a batch is a memcpy. Writing needs no TensorFlow (`serialize_record`, `frame_record`
write the bytes TensorFlow would); tf.data reads them (`parse_batch`) and so does the TensorFlow-free
reader (`record_offsets`, `parse_record`).

Chunks (`PixelChunks`): while prepare decodes, it commits every few hundred images to a chunk file
(atomically), so a killed prepare resumes where it stopped and memory never holds more than two
chunks, whatever the number of images.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

RECORD_FORMAT = {
    "image": "bytes: raw uint8 RGB pixels, shape (image_size, image_size, 3), row-major (HWC)",
    "label": "int64: 1 = malignant, 0 = benign",
    "isic_id": "bytes: the image's isic_id",
}


def shard_name(split: str, index: int, count: int) -> str:
    """File name of one shard, relative to the prepared folder."""
    return f"shards/{split}-{index:05d}-of-{count:05d}.tfrecord"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks (bounded memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_shards(
    folder: Path, split: str, records: Iterable[tuple[str, int, np.ndarray]], total: int, shard_size: int,
    checksums: dict[str, str] | None = None,
) -> list[str]:
    """Write `(isic_id, label, pixels)` records of one split in order; returns shard names.

    With `checksums`, each shard's sha256 is added as `{name: digest}` right after the shard is
    closed (while it is still in the page cache), so hashing costs no extra cold read.
    """
    def close(writer, name):
        writer.close()
        if checksums is not None:
            checksums[name] = sha256_file(folder / name)

    count = max(1, -(-total // shard_size))
    names = [shard_name(split, i, count) for i in range(count)]
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    writer, written = None, 0
    for isic_id, label, pixels in records:
        if written % shard_size == 0:
            if writer is not None:
                close(writer, names[written // shard_size - 1])
            writer = open(folder / names[written // shard_size], "wb")
        writer.write(frame_record(serialize_record(pixels.tobytes(), int(label), isic_id)))
        written += 1
    if writer is not None:
        close(writer, names[(written - 1) // shard_size])
    for name in names[max(1, -(-written // shard_size)) :]:  # an empty split still gets one file
        close(open(folder / name, "wb"), name)
    return names


# --- The record format without TensorFlow: tf.train.Example in protobuf wire format, framed as TFRecord.
# The bytes are exactly what `tf.train.Example.SerializeToString(deterministic=True)` and
# `tf.io.TFRecordWriter` write (map entries sorted by key; tests/data compares them), so prepare needs no
# TensorFlow, and the JAX backend reads the shards without it.
_HEADER, _FOOTER = 12, 4


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _put_varint(number << 3 | 2) + _put_varint(len(payload)) + payload


def serialize_record(image: bytes, label: int, isic_id: str) -> bytes:
    """One `RECORD_FORMAT` record as a serialized tf.train.Example (deterministic map order)."""
    features = {
        "image": _field(1, _field(1, image)),  # Feature.bytes_list(1) -> BytesList.value(1)
        "isic_id": _field(1, _field(1, isic_id.encode())),
        "label": _field(3, _field(1, _put_varint(label))),  # Feature.int64_list(3), packed values
    }
    entries = b"".join(_field(1, _field(1, key.encode()) + _field(2, value))
                       for key, value in sorted(features.items()))
    return _field(1, entries)  # Example.features(1) -> Features.feature(1): map entries


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """TFRecord framing: length, masked CRC-32C of the length, data, masked CRC-32C of the data."""
    length = len(data).to_bytes(8, "little")
    return length + _masked_crc(length).to_bytes(4, "little") + data + _masked_crc(data).to_bytes(4, "little")


def parse_batch(serialized, image_size: int):
    """Parse a batch of serialized records -> (uint8 images (B, S, S, 3), int64 labels (B,))."""
    import tensorflow as tf

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }
    parsed = tf.io.parse_example(serialized, spec)
    images = tf.io.decode_raw(parsed["image"], tf.uint8)
    images = tf.reshape(images, [-1, image_size, image_size, 3])
    return images, parsed["label"]


# --- Reading shards without TensorFlow (the JAX backend's input path) ---------------------------------
# The CRCs are not checked on read: a truncated shard is caught by its framing, and prepare's sha256
# per shard (manifest `checksums`) guards the bytes.


def record_offsets(path: Path) -> list[tuple[int, int]]:
    """``(offset, length)`` of every record's payload in a TFRecord file, in file order.

    Raises:
        ValueError: the file ends inside a record (a shard cut short), naming the file.
    """
    size = os.path.getsize(path)
    out, pos = [], 0
    with open(path, "rb") as handle:
        while pos < size:
            handle.seek(pos)
            header = handle.read(_HEADER)
            if len(header) < _HEADER:
                raise ValueError(f"{path}: truncated TFRecord header at byte {pos} (file size {size})")
            length = int.from_bytes(header[:8], "little")
            end = pos + _HEADER + length + _FOOTER
            if end > size:
                raise ValueError(f"{path}: the record at byte {pos} needs {length} bytes, the file ends first "
                                 "(a shard cut short: prepare the dataset again)")
            out.append((pos + _HEADER, length))
            pos = end
    return out


def _varint(buf, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """(field number, wire type, value) of a protobuf message; value = (start, end) for bytes."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = (pos, pos + length), pos + length
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in a shard record")
        yield number, wire, value


def parse_record(buf) -> dict:
    """One serialized tf.train.Example of `RECORD_FORMAT` -> ``{"image": memoryview, "label": int,
    "isic_id": str}``, without TensorFlow (a minimal protobuf reader for this one message)."""
    view = memoryview(buf)
    out: dict = {}
    for number, _, (f_start, f_end) in _fields(view, 0, len(view)):  # Example.features
        if number != 1:
            continue
        for entry_no, _, (e_start, e_end) in _fields(view, f_start, f_end):  # map<string, Feature>
            if entry_no != 1:
                continue
            key, feature = None, None
            for no, _, value in _fields(view, e_start, e_end):
                if no == 1:
                    key = bytes(view[value[0]:value[1]]).decode()
                elif no == 2:
                    feature = value
            if key in RECORD_FORMAT and feature is not None:
                out[key] = _feature_value(view, *feature)
    missing = set(RECORD_FORMAT) - set(out)
    if missing:
        raise ValueError(f"a shard record lacks {sorted(missing)} (RECORD_FORMAT: {sorted(RECORD_FORMAT)})")
    out["isic_id"] = bytes(out["isic_id"]).decode()
    return out


def _feature_value(view, start: int, end: int):
    """The single value of a Feature: bytes (BytesList) or int (Int64List, packed or not)."""
    for kind, _, (l_start, l_end) in _fields(view, start, end):
        for no, wire, value in _fields(view, l_start, l_end):
            if no != 1:
                continue
            if kind == 1:  # bytes_list
                return view[value[0]:value[1]]
            if kind == 3:  # int64_list
                return _varint(view, value[0])[0] if wire == 2 else value
    raise ValueError("a shard record holds an empty or unsupported feature")


# --- Decoded-pixel chunks: prepare's resumable work store ---------------------------------------------
CHUNK_BYTES = 32 << 20  # pixels per chunk file (~220 images at 224 px): bounds memory and lost work


def chunk_images(image_size: int, budget: int = CHUNK_BYTES) -> int:
    """Images per chunk for `image_size`: about `budget` bytes of pixels, between 16 and 1024."""
    return max(16, min(1024, budget // (image_size * image_size * 3)))


class PixelChunks:
    """Decoded images of one prepare, `per_chunk` per file, each chunk committed atomically.

        folder/plan.json         key (what decoding depends on), per_chunk, image_size, images;
                                 another key, chunking or size wipes the folder
        folder/chunk-NNNNN.npy   uint8 (k, S, S, 3); zeros for an image that could not be used
        folder/chunk-NNNNN.json  ids, signatures, reasons (None = usable), sha256 (None = not read)

    Each file is written under a temporary name and renamed; the JSON goes last. A chunk is done
    exactly when its JSON names the expected ids with the expected signatures (the raw file's name,
    size and mtime) and its .npy has the expected size: a chunk holding a file that changed since
    (re-downloaded, say) is decoded again, and so is anything a killed run left half written.
    """

    def __init__(self, folder: Path, ids: Sequence[str], image_size: int, per_chunk: int, key: str,
                 signatures: Sequence[str] | None = None):
        self.folder, self.ids, self.size, self.per_chunk = Path(folder), list(ids), image_size, per_chunk
        self.signatures = list(signatures) if signatures is not None else [""] * len(self.ids)
        plan = {"key": key, "per_chunk": per_chunk, "image_size": image_size}
        plan_file = self.folder / "plan.json"
        try:
            old = json.loads(plan_file.read_text(encoding="utf8"))
            same = {k: old.get(k) for k in plan} == plan
        except (OSError, ValueError, AttributeError):
            same = False
        if not same and self.folder.exists():  # other decoding or chunking: nothing here can be reused
            for stale in self.folder.iterdir():
                stale.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(plan_file, json.dumps({**plan, "images": len(self.ids)}).encode())
        self._handle = None  # (chunk, open file, data offset) of the chunk `pixels` reads

    def __len__(self) -> int:
        return -(-len(self.ids) // self.per_chunk)

    def rows(self, chunk: int) -> range:
        """Row numbers (positions in `ids`) of one chunk."""
        return range(chunk * self.per_chunk, min(len(self.ids), (chunk + 1) * self.per_chunk))

    def _paths(self, chunk: int) -> tuple[Path, Path]:
        return self.folder / f"chunk-{chunk:05d}.npy", self.folder / f"chunk-{chunk:05d}.json"

    def _nbytes(self, chunk: int) -> int:
        return len(self.rows(chunk)) * self.size * self.size * 3

    def is_done(self, chunk: int) -> bool:
        """Whether `chunk` was committed (by this run or a killed earlier one) and is complete."""
        pixels, meta = self._paths(chunk)
        rows = self.rows(chunk)
        try:
            saved = json.loads(meta.read_text(encoding="utf8"))
            return saved["ids"] == self.ids[rows.start:rows.stop] and \
                saved["signatures"] == self.signatures[rows.start:rows.stop] and \
                pixels.stat().st_size == _npy_offset(pixels) + self._nbytes(chunk)
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def commit(self, chunk: int, results: Sequence[tuple[str | None, str | None, np.ndarray | None]]) -> None:
        """Write one chunk: `results[j]` = (reason, sha256, pixels or None) of row `rows(chunk)[j]`."""
        rows = self.rows(chunk)
        assert len(results) == len(rows), (chunk, len(results), len(rows))
        block = np.zeros((len(rows), self.size, self.size, 3), dtype=np.uint8)
        for j, (_, _, pixels) in enumerate(results):
            if pixels is not None:
                block[j] = pixels
        pixels_path, meta_path = self._paths(chunk)
        tmp = pixels_path.with_suffix(".npy.tmp")
        with open(tmp, "wb") as handle:
            np.save(handle, block)
        os.replace(tmp, pixels_path)
        meta = {"ids": self.ids[rows.start:rows.stop], "signatures": self.signatures[rows.start:rows.stop],
                "reasons": [r for r, _, _ in results],
                "sha256": [d for _, d, _ in results]}
        _write_atomic(meta_path, json.dumps(meta).encode())

    def results(self) -> tuple[list[str | None], list[str | None]]:
        """(reasons, sha256 digests) of every row, in `ids` order; every chunk must be done."""
        reasons, digests = [], []
        for chunk in range(len(self)):
            meta = json.loads(self._paths(chunk)[1].read_text(encoding="utf8"))
            reasons += meta["reasons"]
            digests += meta["sha256"]
        return reasons, digests

    def pixels(self, row: int) -> np.ndarray:
        """The (S, S, 3) pixels of `row`, read from its chunk file (one open file at a time)."""
        chunk, j = divmod(row, self.per_chunk)
        if self._handle is None or self._handle[0] != chunk:
            self.close()
            path = self._paths(chunk)[0]
            self._handle = (chunk, open(path, "rb"), _npy_offset(path))  # noqa: SIM115 - kept open across calls
        _, handle, offset = self._handle
        nbytes = self.size * self.size * 3
        handle.seek(offset + j * nbytes)
        return np.frombuffer(handle.read(nbytes), dtype=np.uint8).reshape(self.size, self.size, 3)

    def close(self) -> None:
        """Close the chunk file `pixels` keeps open."""
        if self._handle is not None:
            self._handle[1].close()
            self._handle = None

    def disk_bytes(self) -> int:
        """Bytes of every file in the folder."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


def _npy_offset(path: Path) -> int:
    """Where the array data starts in a .npy file (after its header)."""
    with open(path, "rb") as handle:
        fmt = np.lib.format
        header = fmt.read_array_header_1_0 if fmt.read_magic(handle) == (1, 0) else fmt.read_array_header_2_0
        header(handle)
        return handle.tell()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` under a temporary name, then rename: readers see all of it or nothing."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
