"""The IDX parser and the checksum checks: a damaged data file must fail loudly, naming the file."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from hub import data


def idx_bytes(array: np.ndarray) -> bytes:
    magic = (0x0800 | array.ndim).to_bytes(4, "big")
    dims = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return magic + dims + array.astype(np.uint8).tobytes()


def test_parse_idx_round_trip():
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    labels = np.array([3, 7], dtype=np.uint8)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(images)), images)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(labels)), labels)


def test_wrong_magic_number_is_named():
    raw = bytearray(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    raw[2] = 0x0D  # float data instead of unsigned bytes
    with pytest.raises(data.DataError, match="somefile: wrong magic number 0x00000d03"):
        data.parse_idx(bytes(raw), "somefile")


@pytest.mark.parametrize("cut", [3, 10, 100])
def test_truncated_data_is_an_error(cut):
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(data.DataError, match="truncated|too short"):
        data.parse_idx(raw[:-cut] if cut != 3 else raw[:cut])


def test_vendored_mnist_matches_its_published_figures():
    mnist = data.load_mnist()
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9] and mnist.y_test[:5].tolist() == [7, 2, 1, 0, 4]


@pytest.fixture
def data_copy(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(data.DEFAULT_DATA_DIR, folder)
    return folder


def test_altered_file_fails_its_checksum(data_copy):
    name = "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress((data_copy / name).read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed: still a valid IDX file
    (data_copy / name).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataError) as err:
        data.load_mnist(data_copy)
    message = str(err.value)
    assert name in message and hashlib.sha256(bytes(raw)).hexdigest() in message and "git checkout" in message


def test_truncated_gzip_file_is_named(data_copy):
    path = data_copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte.gz.*not a complete gzip"):
        data.load_mnist(data_copy)


def test_one_missing_file_is_an_error_not_a_download(data_copy):
    (data_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz is missing"):
        data.load_mnist(data_copy)


def test_validation_split_is_disjoint_and_seeded():
    x = np.arange(100)[:, None]
    y = np.arange(100)
    (xt, yt), (xv, yv) = data.split_validation(x, y, 10, seed=3)
    assert len(xv) == 10 and len(xt) == 90 and not set(yt) & set(yv)
    assert data.split_validation(x, y, 10, seed=3)[1][1].tolist() == yv.tolist()
    with pytest.raises(ValueError, match="validation size"):
        data.split_validation(x, y, 100, seed=0)
