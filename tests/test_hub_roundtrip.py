"""Push a model folder to the local Hub server and load it back the ways users do (offline round trips)."""

import shutil
import json
from pathlib import Path

import numpy as np
import pytest

from tests.hub_server import OTHER_TOKEN, WRITE_TOKEN, HubServer

SAMPLES = np.zeros((16, 28, 28), np.uint8)  # MNIST-form inputs: ink inside a dark border
SAMPLES[:, 4:24, 4:24] = np.random.default_rng(0).integers(0, 256, size=(16, 20, 20), dtype=np.uint8)


@pytest.fixture(scope="session")
def pushed(hub_server_session, model_dir):
    """model_dir pushed once to tester/mnist-cnn (shared by the read-only tests below)."""
    from hub.hub_io import push_model_folder

    result = push_model_folder(model_dir, "tester/mnist-cnn", token=WRITE_TOKEN, commit_message="First upload")
    return result


@pytest.fixture
def local_clf(model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _copy_folder(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_push_creates_one_commit_with_the_folder(hub_server, pushed, model_dir):
    from huggingface_hub import HfApi

    api = HfApi()
    commits = api.list_repo_commits("tester/mnist-cnn")
    assert [c.title for c in commits][-2:] == ["First upload", "initial commit"]
    assert commits[-2].commit_id == pushed.commit_sha
    files = set(api.list_repo_files("tester/mnist-cnn", revision=pushed.commit_sha))
    local = {p.relative_to(model_dir).as_posix() for p in Path(model_dir).rglob("*") if p.is_file()}
    assert local <= files
    assert {"model.tflite", "config.json", "metadata.json", "model.weights.h5", "classifier.json", "README.md"} <= files


def test_load_by_repo_id_into_empty_cache_matches_local_model(hub_server, pushed, local_clf, model_dir, tmp_path):
    from hub.classifier import MnistClassifier

    clf = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path / "cache")
    assert clf.commit_hash is not None
    assert str(tmp_path / "cache") in str(clf.folder)
    assert clf.runtime.flatbuffer == (model_dir / "model.tflite").read_bytes()  # downloaded, not converted
    np.testing.assert_allclose(clf.predict_proba(SAMPLES), local_clf.predict_proba(SAMPLES), atol=1e-6)
    assert [p.label for p in clf.predict(SAMPLES)] == [p.label for p in local_clf.predict(SAMPLES)]
    assert clf.config["format"] == "mnist-digit-classifier"
    assert clf.metrics == local_clf.metrics
    # Cached downloads are reused: a second load needs no file download.
    before = len(hub_server.state.requests)
    MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path / "cache")
    assert not [r for r in hub_server.state.requests[before:] if "/resolve/" in r[1]]


def test_keras_hf_uri_loads_the_same_model(hub_server, pushed, local_clf):
    import keras

    model = keras.saving.load_model("hf://tester/mnist-cnn")
    x = SAMPLES[..., None].astype("float32") / 255.0
    # The network's raw softmax (11 columns, uncalibrated): what model.tflite computes for MnistClassifier.
    np.testing.assert_allclose(np.asarray(model(x)), local_clf.runtime(x), atol=1e-6)


def test_repo_without_tflite_loads_both_ways(hub_server, model_dir, local_clf, tmp_path):
    """Repos pushed before model.tflite existed: MnistClassifier converts the Keras files, hf:// still works."""
    import keras

    from hub.classifier import MnistClassifier
    from hub.hub_io import push_model_folder

    folder = _copy_folder(model_dir, tmp_path / "model")
    (folder / "model.tflite").unlink()
    push_model_folder(folder, "tester/keras-only", commit_message="Keras files only")
    clf = MnistClassifier.from_pretrained("tester/keras-only", cache_dir=tmp_path / "cache")
    assert not (clf.folder / "model.tflite").exists()
    x = SAMPLES[..., None].astype("float32") / 255.0
    np.testing.assert_allclose(clf.predict_proba(x), local_clf.predict_proba(x), atol=1e-6)
    model = keras.saving.load_model("hf://tester/keras-only")
    np.testing.assert_allclose(np.asarray(model(x)), local_clf.runtime(x), atol=1e-6)


def test_push_twice_then_load_first_commit_by_sha(hub_server, model_dir, tmp_path):
    from hub.classifier import MnistClassifier
    from hub.hub_io import push_model_folder

    folder = _copy_folder(model_dir, tmp_path / "model")
    first = push_model_folder(folder, "tester/twice", commit_message="v1")
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["date"] = "second run"
    (folder / "metrics.json").write_text(json.dumps(metrics))
    second = push_model_folder(folder, "tester/twice", commit_message="v2")
    assert first.commit_sha != second.commit_sha

    old = MnistClassifier.from_pretrained("tester/twice", revision=first.commit_sha, cache_dir=tmp_path / "c")
    new = MnistClassifier.from_pretrained("tester/twice", cache_dir=tmp_path / "c")
    assert old.commit_hash == first.commit_sha and old.metrics["date"] != "second run"
    assert new.commit_hash == second.commit_sha and new.metrics["date"] == "second run"


def test_push_to_branch_and_load_by_branch_and_tag(hub_server, model_dir, tmp_path):
    from huggingface_hub import HfApi

    from hub.classifier import MnistClassifier
    from hub.hub_io import push_model_folder

    result = push_model_folder(model_dir, "tester/branched", revision="experiment")
    api = HfApi()
    refs = api.list_repo_refs("tester/branched")
    assert {b.name: b.target_commit for b in refs.branches}["experiment"] == result.commit_sha
    assert "classifier.json" not in api.list_repo_files("tester/branched")  # main untouched
    api.create_tag("tester/branched", tag="v1.0", revision="experiment")
    for rev in ("experiment", "v1.0"):
        clf = MnistClassifier.from_pretrained("tester/branched", revision=rev, cache_dir=tmp_path / rev)
        assert clf.commit_hash == result.commit_sha


def test_offline_reload_from_cache(hub_server, pushed, tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    from hub.classifier import MnistClassifier, ModelLoadError

    cache = tmp_path / "cache"
    online = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=cache)
    # HF_HUB_OFFLINE is read when huggingface_hub is imported; set the constant it was read into.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    before = len(hub_server.state.requests)
    offline = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=cache)
    assert len(hub_server.state.requests) == before  # no network at all
    assert offline.commit_hash == online.commit_hash
    np.testing.assert_allclose(offline.predict_proba(SAMPLES), online.predict_proba(SAMPLES), atol=1e-6)

    with pytest.raises(ModelLoadError, match=r"not in the cache .*HF_HUB_OFFLINE=1"):
        MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path / "empty")


@pytest.mark.slow  # a fresh process; test_offline_reload_from_cache covers it in-process
def test_hf_hub_offline_env_var_in_a_fresh_process(hub_server, pushed, tmp_path):
    """The real switch users flip: HF_HUB_OFFLINE=1 in the environment of a new Python process."""
    import os
    import subprocess
    import sys

    from hub.classifier import MnistClassifier

    online = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)
    script = (
        "import sys; from hub.classifier import MnistClassifier, ModelLoadError\n"
        f"clf = MnistClassifier.from_pretrained('tester/mnist-cnn', cache_dir={str(tmp_path)!r})\n"
        "print('COMMIT', clf.commit_hash)\n"
        "try:\n"
        f"    MnistClassifier.from_pretrained('tester/mnist-cnn', cache_dir={str(tmp_path / 'empty')!r})\n"
        "except ModelLoadError as e:\n"
        "    print('ERROR', e)\n"
    )
    root = Path(__file__).resolve().parent.parent  # `python -c` imports hub from its working directory
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    before = len(hub_server.state.requests)
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"COMMIT {online.commit_hash}" in proc.stdout
    assert "ERROR Model repo 'tester/mnist-cnn' (revision 'main') is not in the cache" in proc.stdout
    assert "HF_HUB_OFFLINE=1" in proc.stdout
    assert len(hub_server.state.requests) == before


def test_local_files_only(hub_server, pushed, tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError

    with pytest.raises(ModelLoadError, match=r"not in the cache .*local_files_only=True"):
        MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path, local_files_only=True)
    MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)
    before = len(hub_server.state.requests)
    MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path, local_files_only=True)
    assert len(hub_server.state.requests) == before


# ----------------------------------------------------------------------------- loading errors


def test_unknown_repo(hub_server, tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError

    with pytest.raises(ModelLoadError, match=r"'tester/no-such-model' was not found"):
        MnistClassifier.from_pretrained("tester/no-such-model", cache_dir=tmp_path)


def test_not_a_repo_id_nor_folder(tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError

    with pytest.raises(ModelLoadError, match="neither an existing model folder nor a Hub repo id"):
        MnistClassifier.from_pretrained(str(tmp_path / "missing" / "folder"))


def test_unknown_revision(hub_server, pushed, tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError

    with pytest.raises(ModelLoadError, match=r"Revision 'no-such-branch' does not exist in model repo"):
        MnistClassifier.from_pretrained("tester/mnist-cnn", revision="no-such-branch", cache_dir=tmp_path)


def test_private_repo_needs_a_token(hub_server, model_dir, tmp_path, monkeypatch):
    from hub.classifier import MnistClassifier, ModelLoadError
    from hub.hub_io import push_model_folder

    push_model_folder(model_dir, "tester/secret", private=True)
    assert hub_server.state.repo("tester/secret").private
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ModelLoadError, match=r"was not found .*If the repo is private, pass a token"):
        MnistClassifier.from_pretrained("tester/secret", cache_dir=tmp_path / "a")
    with pytest.raises(ModelLoadError, match=r"was not found"):
        MnistClassifier.from_pretrained("tester/secret", cache_dir=tmp_path / "b", token=OTHER_TOKEN)
    clf = MnistClassifier.from_pretrained("tester/secret", cache_dir=tmp_path / "c", token=WRITE_TOKEN)
    assert clf.config["labels"][0] == "0"


def test_gated_repo_without_access(hub_server, model_dir, tmp_path, monkeypatch):
    from hub.classifier import MnistClassifier, ModelLoadError
    from hub.hub_io import push_model_folder

    push_model_folder(model_dir, "tester/gated")
    hub_server.state.set_gated("tester/gated", "manual")
    monkeypatch.delenv("HF_TOKEN")
    for token in (None, OTHER_TOKEN):
        with pytest.raises(ModelLoadError, match=r"is gated: request access"):
            MnistClassifier.from_pretrained("tester/gated", cache_dir=tmp_path / str(token), token=token)
    hub_server.state.repo("tester/gated").granted.add("other")
    MnistClassifier.from_pretrained("tester/gated", cache_dir=tmp_path / "granted", token=OTHER_TOKEN)


def test_invalid_token(hub_server, pushed, tmp_path, monkeypatch):
    from hub.classifier import MnistClassifier, ModelLoadError

    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    with pytest.raises(ModelLoadError, match=r"rejected the token \(401"):
        MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)


def test_repo_that_is_not_ours(hub_server, tmp_path):
    from huggingface_hub import HfApi

    from hub.classifier import MnistClassifier, NotAnMnistClassifierError

    api = HfApi()
    api.create_repo("tester/some-other-model")
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json",
                    repo_id="tester/some-other-model")
    with pytest.raises(NotAnMnistClassifierError, match="not an MNIST classifier repo made by this project"):
        MnistClassifier.from_pretrained("tester/some-other-model", cache_dir=tmp_path)


def test_repo_with_missing_model_files(hub_server, model_dir, tmp_path):
    from huggingface_hub import HfApi

    from hub.classifier import MnistClassifier, ModelLoadError

    api = HfApi()
    api.create_repo("tester/half-uploaded")
    api.upload_file(path_or_fileobj=str(Path(model_dir) / "classifier.json"), path_in_repo="classifier.json",
                    repo_id="tester/half-uploaded")
    with pytest.raises(ModelLoadError, match=r"missing config.json, metadata.json, model.weights.h5"):
        MnistClassifier.from_pretrained("tester/half-uploaded", cache_dir=tmp_path)


@pytest.fixture
def dead_endpoint(monkeypatch):
    """Point the client at a Hub server that was running and has been stopped (connection refused)."""
    import huggingface_hub.constants as hf_constants

    server = HubServer().start()
    server.stop()
    monkeypatch.setattr(hf_constants, "ENDPOINT", server.url)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        server.url + "/{repo_id}/resolve/{revision}/{filename}")
    return server.url


def test_no_network_and_nothing_cached(hub_server, dead_endpoint, tmp_path):
    from hub.classifier import MnistClassifier, ModelLoadError

    with pytest.raises(ModelLoadError, match=r"Could not reach the Hub at .* and it is not in the cache"):
        MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)


def test_no_network_but_cached_loads_from_cache(hub_server, pushed, tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    from hub.classifier import MnistClassifier

    first = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)
    server = HubServer().start()
    server.stop()
    monkeypatch.setattr(hf_constants, "ENDPOINT", server.url)
    again = MnistClassifier.from_pretrained("tester/mnist-cnn", cache_dir=tmp_path)
    assert again.commit_hash == first.commit_hash


# ----------------------------------------------------------------------------- push errors


def test_push_to_stopped_server_keeps_folder_and_prints_retry(hub_server, model_dir, dead_endpoint, tmp_path,
                                                              capsys):
    from hub import push

    folder = _copy_folder(model_dir, tmp_path / "model")
    before = _snapshot(folder)
    code = push.main([str(folder), "tester/mnist-cnn", "--private", "--revision", "dev", "--message", "retry me"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Could not reach the Hub" in err
    assert f"python -m hub.push {folder} tester/mnist-cnn --private --revision dev --message 'retry me'" in err
    assert _snapshot(folder) == before
    assert WRITE_TOKEN not in err

    from hub.hub_io import PushError, push_model_folder

    with pytest.raises(PushError, match=r"(?s)Could not reach the Hub.*intact.*python -m hub.push") as info:
        push_model_folder(folder, "tester/mnist-cnn", commit_message="retry me")
    assert info.value.retry_command == f"python -m hub.push {folder} tester/mnist-cnn --message 'retry me'"
    assert _snapshot(folder) == before


def test_push_error_messages(hub_server, model_dir, tmp_path, monkeypatch):
    from hub.hub_io import PushError, push_model_folder

    folder = _copy_folder(model_dir, tmp_path / "model")
    before = _snapshot(folder)
    cases = [
        (dict(token="hf_not_a_real_token"), "tester/x1", r"rejected the token \(401"),
        (dict(token=OTHER_TOKEN), "tester/x2", r"not allowed to write .*403"),
        (dict(revision=None), "nobody/x3", r"403"),  # no rights in another namespace
    ]
    for kwargs, repo_id, pattern in cases:
        with pytest.raises(PushError, match=pattern) as info:
            push_model_folder(folder, repo_id, **kwargs)
        assert f"python -m hub.push {folder} {repo_id}" in str(info.value)
        assert info.value.retry_command.startswith("python -m hub.push")

    hub_server.state.fail_next(r"/api/repos/create", status=503)
    with pytest.raises(PushError, match=r"server error \(503\).*retry") as info:
        push_model_folder(folder, "tester/x4")
    assert "Retry with:" in str(info.value)

    from huggingface_hub import HfApi

    push_model_folder(folder, "tester/x5")
    sha = HfApi().list_repo_commits("tester/x5")[0].commit_id
    with pytest.raises(PushError, match=r"is a commit sha; commits can only be pushed to a branch"):
        push_model_folder(folder, "tester/x5", revision=sha)
    HfApi().create_tag("tester/x5", tag="v1")
    with pytest.raises(PushError, match=r"'v1' is a tag"):
        push_model_folder(folder, "tester/x5", revision="v1")

    with pytest.raises(PushError, match="not a complete model folder"):
        (tmp_path / "partial").mkdir()
        push_model_folder(tmp_path / "partial", "tester/x6")
    assert _snapshot(folder) == before


def test_check_token(hub_server, monkeypatch):
    from tests.hub_server import READ_TOKEN

    from hub.hub_io import TokenError, check_token

    assert check_token("tester/anything") == "tester"
    with pytest.raises(TokenError, match="cannot write to namespace 'someone-else'"):
        check_token("someone-else/model")
    with pytest.raises(TokenError, match="read-only"):
        check_token(token=READ_TOKEN)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    with pytest.raises(TokenError, match=r"rejected the token \(401") as info:
        check_token()
    assert "hf_not_a_real_token" not in str(info.value)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(TokenError, match="No Hugging Face token found"):
        check_token()


def test_check_token_without_server(hub_server, dead_endpoint):
    from hub.hub_io import TokenError, check_token

    with pytest.raises(TokenError, match="Could not reach the Hub"):
        check_token()


def test_push_cli_success(hub_server, model_dir, capsys, tmp_path):
    import shutil

    from huggingface_hub import ModelCard

    from hub import push

    folder = shutil.copytree(model_dir, tmp_path / "model")
    assert push.main([str(folder), "tester/cli-model", "--space-id", "tester/digits"]) == 0
    out = capsys.readouterr().out
    assert "Pushed to" in out and "tester/cli-model" in out
    assert WRITE_TOKEN not in out
    card = ModelCard.load("tester/cli-model")  # re-rendered for this repo and Space before the upload
    assert 'load_model("hf://tester/cli-model")' in card.text and "tester/digits" in card.text
