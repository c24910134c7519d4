"""MNIST from the gzipped IDX files vendored in data/mnist, checked against their SHA-256 sums.

The project must train offline on a fresh clone, so the data ships with it; the checksums make
a truncated or altered copy fail loudly instead of training on garbage.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"
CHECKSUM_FILE = "SHA256SUMS.uncompressed"
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
# IDX magic numbers: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions.
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


class DataError(Exception):
    """MNIST could not be read; the message names the file and what to do."""


@dataclass
class MnistData:
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: str  # where it came from, for the logs


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes (unsigned-byte data, 1 or 3 dimensions) into a uint8 array."""
    if len(raw) < 8:
        raise DataError(f"{name}: only {len(raw)} bytes, too short to be an IDX file.")
    magic = int.from_bytes(raw[:4], "big")
    ndim = raw[3]
    if ndim not in IDX_MAGIC or magic != IDX_MAGIC[ndim]:
        raise DataError(
            f"{name}: wrong magic number 0x{magic:08x}; expected 0x00000801 (labels) or "
            "0x00000803 (images). Is this an MNIST IDX file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: header is truncated ({len(raw)} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{name}: {len(raw)} bytes, but its header promises {expected} for shape {shape}; "
            "the file is truncated or has trailing data."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_checksums(data_dir: Path) -> dict[str, str]:
    path = data_dir / CHECKSUM_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing: it holds the SHA-256 of each file to verify.")
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, filename = line.split()
            sums[filename.lstrip("*").removesuffix(".gz")] = digest
    return sums


def read_idx_file(path: Path, expected_sha256: str | None) -> np.ndarray:
    """Read one gzipped IDX file, verifying the SHA-256 of its uncompressed content."""
    if not path.is_file():
        raise DataError(f"{path} is missing.")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: not a complete gzip file ({err}).") from err
    if expected_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected_sha256:
            raise DataError(
                f"{path}: SHA-256 of the uncompressed data is {actual}, expected {expected_sha256} "
                f"(from {CHECKSUM_FILE}). The file is altered or damaged: restore it with "
                "`git checkout -- data/mnist` or copy it again from the original MNIST files."
            )
    return parse_idx(raw, str(path))


def load_mnist(data_dir: str | Path | None = None, verify: bool = True) -> MnistData:
    """Load MNIST from data_dir (default: the vendored copy).

    When the folder has none of the files, fall back to keras.datasets.mnist (which downloads, so
    it needs internet). A folder with some files missing or damaged is an error, never a fallback.
    """
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    present = [f for f in FILES.values() if (data_dir / f).is_file()]
    if not present:
        return _download_with_keras(data_dir)
    sums = read_checksums(data_dir) if verify else {}
    arrays = {}
    for key, filename in FILES.items():
        expected = sums.get(filename.removesuffix(".gz")) if verify else None
        if verify and expected is None:
            raise DataError(f"{data_dir / CHECKSUM_FILE} has no checksum for {filename}.")
        arrays[key] = read_idx_file(data_dir / filename, expected)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{data_dir}: {split} images {x.shape} and labels {y.shape} do not match MNIST."
            )
    return MnistData(**arrays, source=str(data_dir))


def _download_with_keras(data_dir: Path) -> MnistData:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # no network, proxy, ...: say what to do instead
        raise DataError(
            f"No MNIST files in {data_dir} and the download through keras.datasets.mnist failed "
            f"({type(err).__name__}: {err}). Point --data-dir at a folder with the four "
            f"gzipped IDX files ({', '.join(FILES.values())}) and {CHECKSUM_FILE}."
        ) from err
    return MnistData(x_train, y_train, x_test, y_test, source="keras.datasets.mnist (download)")


def split_validation(x: np.ndarray, y: np.ndarray, size: int, seed: int):
    """Hold out `size` random training examples for validation (never the test set)."""
    if not 0 < size < len(x):
        raise ValueError(f"validation size must be between 1 and {len(x) - 1}, got {size}")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:size], order[size:]
    return (x[train], y[train]), (x[val], y[val])
