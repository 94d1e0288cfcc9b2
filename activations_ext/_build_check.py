"""The torch a build of the extension was made for: recorded, then checked.

The compiled library links against the libraries of the torch it was built
with. Under another torch it fails to load with a message that does not say
why (``libc10_cuda.so: cannot open shared object file`` for a CUDA build
under a CPU-only torch, an undefined symbol between versions), or loads and
misbehaves. So the build records its torch in ``activations_ext/_build_info.py``
(setup.py calls :func:`write_build_info`), and importing the package
compares that record with the installed torch before loading the library
(:func:`check_built_torch`), and explains a library that fails to load
anyway (:func:`load_error`).

setup.py loads this file on its own, by path (importing the package would
load the library being built), so it imports nothing from the package.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Optional, Tuple, Union

import torch

REBUILD_COMMAND = "pip install --no-build-isolation -e ."
INFO_FILE = "_build_info.py"


def write_build_info(path: Union[str, Path], torch_version: str, with_cuda: bool) -> None:
    """Writes the record of a build: the torch version it is compiled
    against (``torch.__version__`` at build time) and whether it has the
    CUDA kernels."""
    Path(path).write_text(
        '"""The torch this build of activations_ext was compiled against (written by setup.py)."""\n'
        "\n"
        f"TORCH_VERSION = {json.dumps(str(torch_version))}\n"
        f"WITH_CUDA = {bool(with_cuda)}\n"
    )


def built_for() -> Optional[Tuple[str, bool]]:
    """(torch version, with CUDA kernels) from the build's record, or None
    for a build made before builds recorded it.

    The record is read from this file's folder, next to the library it
    describes, rather than imported: with an editable install of the
    checkout, importing a copy of the package that has no record would find
    the checkout's.
    """
    path = Path(__file__).with_name(INFO_FILE)
    if not path.is_file():
        return None
    info = runpy.run_path(str(path))
    return info["TORCH_VERSION"], bool(info["WITH_CUDA"])


def _rebuild_hint() -> str:
    return f"rebuild it with `{REBUILD_COMMAND}` (in the source checkout)"


def check_built_torch() -> None:
    """Raises ImportError when the build was made for another torch than the
    one installed. A build without a record is not checked."""
    info = built_for()
    if info is not None and info[0] != torch.__version__:
        raise ImportError(
            f"activations_ext was built against torch {info[0]} but torch {torch.__version__} is "
            f"installed; {_rebuild_hint()}"
        )


def load_error(error: BaseException) -> ImportError:
    """The ImportError to raise when the compiled library fails to load:
    the loader's message, the torch the build was made for and the one
    installed, and how to rebuild."""
    info = built_for()
    if info is None:
        built = "an unrecorded torch version (the build predates activations_ext/_build_info.py)"
    else:
        built = f"torch {info[0]}" + (" with CUDA kernels" if info[1] else " (CPU only)")
    return ImportError(
        f"activations_ext: its compiled library failed to load: {error}. It was built against {built}, "
        f"and torch {torch.__version__} is installed; {_rebuild_hint()}"
    )
