"""hub.gradio_stubs: Gradio imported without rewriting its type stubs, and still working.

Each check runs in a fresh interpreter, because the hook acts only on the first `import gradio` of a process.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_stub_writer_is_replaced_and_gradio_still_builds_an_app():
    out = run_python("""
        from hub import gradio_stubs
        assert gradio_stubs.skip_stub_writing()
        import gradio as gr
        import gradio.component_meta as meta
        import gradio.blocks_events as blocks_events
        print(meta.create_or_modify_pyi is gradio_stubs._no_stub,
              blocks_events.create_or_modify_pyi is gradio_stubs._no_stub)
        with gr.Blocks() as demo:
            box = gr.Textbox()
            gr.Button().click(lambda s: s, box, box, api_name="echo")
        print([d.get("api_name") for d in demo.config["dependencies"]])
    """)
    assert out.splitlines() == ["True True", "['echo']"]


def test_too_late_after_gradio_is_imported():
    out = run_python("""
        import gradio
        from hub import gradio_stubs
        print(gradio_stubs.skip_stub_writing())
    """)
    assert out.strip() == "False"
