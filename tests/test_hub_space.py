"""Space deployment through the local Hub server: the expected files, the rewritten `models:` front matter."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

README = """---
title: MNIST digit recognizer
emoji: ✍️
colorFrom: indigo
colorTo: blue
sdk: gradio
sdk_version: 6.31.0
app_file: app.py
pinned: false
models:
  - placeholder/model
---

# MNIST digit recognizer
Draw a digit.
"""


@pytest.fixture
def space_dir(tmp_path):
    folder = tmp_path / "space"
    (folder / "examples").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "README.md").write_text(README, encoding="utf-8")
    (folder / "app.py").write_text("import hub.classifier\n")
    (folder / "requirements.txt").write_text("gradio==6.31.0\ntensorflow-cpu\n")
    (folder / "examples" / "seven.png").write_bytes(b"\x89PNG fake")
    (folder / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    return folder


@pytest.fixture
def model_repo(hub_server):
    from huggingface_hub import HfApi

    HfApi().create_repo("tester/space-model", exist_ok=True)
    return "tester/space-model"


def test_deploy_uploads_space_and_hub_package(hub_server, space_dir, model_repo, capsys):
    from huggingface_hub import HfApi, SpaceCard, hf_hub_download

    from hub import space_deploy

    commit = space_deploy.deploy_space("tester/mnist-demo", model_repo, space_dir=space_dir)
    api = HfApi()
    info = api.space_info("tester/mnist-demo")
    assert info.sdk == "gradio" and info.sha == commit.oid
    files = set(api.list_repo_files("tester/mnist-demo", repo_type="space"))
    package = {f"hub/{p.name}" for p in (ROOT / "hub").iterdir() if p.suffix in (".py", ".md")}
    assert {"hub/classifier.py", "hub/litert.py", "hub/model_card.md"} <= package  # the whole package, template too
    assert {"README.md", "app.py", "requirements.txt", "examples/seven.png"} | package <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    card = SpaceCard.load(hf_hub_download("tester/mnist-demo", "README.md", repo_type="space"), repo_type="space")
    assert card.data.models == [model_repo]
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py" and card.data.title == "MNIST digit recognizer"
    assert info.models == [model_repo]
    assert (space_dir / "README.md").read_text(encoding="utf-8") == README  # local file untouched


def test_deploy_of_the_real_space_folder(hub_server, model_repo, capsys):
    from huggingface_hub import HfApi

    from hub import space_deploy

    assert space_deploy.main(["tester/real-space", "--model-id", model_repo, "--private"]) == 0, capsys.readouterr()
    files = set(HfApi().list_repo_files("tester/real-space", repo_type="space"))
    assert {"README.md", "app.py", "requirements.txt", "hub/classifier.py", "hub/preprocess.py"} <= files
    assert hub_server.state.repo("tester/real-space", "space").private


def test_deploy_errors(hub_server, space_dir, model_repo):
    from hub.hub_io import PushError
    from hub.space_deploy import SpaceConfigError, deploy_space

    with pytest.raises(PushError, match=r"Model repo 'tester/missing' was not found.*Push the model first"):
        deploy_space("tester/demo2", "tester/missing", space_dir=space_dir)
    readme = space_dir / "README.md"
    readme.write_text(README.replace("sdk_version: 6.31.0", "sdk_version: 5.0.0"), encoding="utf-8")
    with pytest.raises(SpaceConfigError, match=r"sdk_version 5.0.0 differs from gradio==6.31.0"):
        deploy_space("tester/demo2", model_repo, space_dir=space_dir)
    readme.write_text(README.replace("colorTo: blue", "colorTo: turquoise"), encoding="utf-8")
    with pytest.raises(PushError, match=r"(?s)Invalid metadata in README.md.*colorTo"):
        deploy_space("tester/demo2", model_repo, space_dir=space_dir)
    readme.write_text(README.replace("app_file: app.py", "app_file: main.py"), encoding="utf-8")
    with pytest.raises(SpaceConfigError, match=r"app_file 'main.py' does not exist"):
        deploy_space("tester/demo2", model_repo, space_dir=space_dir)
    readme.unlink()
    with pytest.raises(SpaceConfigError, match="README.md is missing"):
        deploy_space("tester/demo2", model_repo, space_dir=space_dir)
