"""Start Gradio without regenerating its type-stub files: about 1.7 s of the Space's 5 s start-up budget.

Why: at every `import gradio`, Gradio 6's component metaclass rewrites the `.pyi` stub of each of its 80 component
classes in its own site-packages (`gradio.component_meta.create_or_modify_pyi`: it parses every component module
with `ast` and compares the stub it would write with the one on disk). The stubs are for IDEs of people developing
custom components; a server never reads them, and Gradio has no setting to skip the work. Measured on the 2-core
Intel Xeon in the Space's venv (4 runs each): `import gradio` took 3.1-4.6 s, and 1.6-2.1 s without the stub work.

How: `skip_stub_writing()` adds an import hook that, once `gradio.component_meta` has run, replaces that function
with one that does nothing; everything else in Gradio is untouched. It must run before the first `import gradio`
(afterwards it changes nothing, harmlessly), and if a later Gradio renames the function, the hook does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

MODULE = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def _no_stub(*args, **kwargs) -> None:
    """Stands in for gradio.component_meta.create_or_modify_pyi: the stub files are left as installed."""


class _SkipStubs(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            if callable(getattr(module, FUNCTION, None)):
                setattr(module, FUNCTION, _no_stub)

        spec.loader.exec_module = exec_module
        return spec


def skip_stub_writing() -> bool:
    """Install the hook (once); whether it can still act (False when Gradio was already imported)."""
    if MODULE in sys.modules:
        return False
    if not any(isinstance(finder, _SkipStubs) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipStubs())
    return True
