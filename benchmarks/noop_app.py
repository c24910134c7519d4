"""The do-nothing reference for benchmarks/api.py: the same `/predict` components as space/app.py (gr.Image
filepath in, gr.Label out, raw payload), but no image decoding and no model, answering 8 calls at once (the app
answers as many at once as it has prediction workers; the rest wait in Gradio's queue, as here beyond 8).

What it measures is Gradio's own floor on this machine (upload, queue, SSE), so the app's figures can be read as
a ratio to it. Run: `python benchmarks/noop_app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT).
"""

from __future__ import annotations

import gradio as gr

CONCURRENCY = 8  # Gradio's floor at its best: no call waits for another
ANSWER = {str(digit): 0.1 for digit in range(10)}


def predict(image: dict | None) -> dict[str, float]:
    """Return a fixed 10-class answer without reading the file."""
    return ANSWER


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="no-op") as demo:
        image = gr.Image(type="filepath", label="image", visible=False)
        label = gr.Label(label="probabilities", visible=False)
        image.change(predict, image, label, preprocess=False, api_name="predict", concurrency_limit=CONCURRENCY)
    return demo


if __name__ == "__main__":
    demo = build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=None)
    demo.launch(max_file_size="25mb")
