"""The project's scripts/ as modules, for tests that call their functions directly."""
import contextlib
import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@contextlib.contextmanager
def loaded_script(name: str):
    """scripts/<name>.py imported as module ``name`` (registered in sys.modules while in
    use: a dataclass looks its module up there), removed again on exit."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
