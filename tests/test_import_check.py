"""Importing a build made for another torch says so (activations_ext/_build_check.py).

Each case copies the package, with its compiled library, to a temporary
folder, changes the copy's build record or library, and imports the copy in
a fresh interpreter with that folder first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import activations_ext
from activations_ext._build_check import REBUILD_COMMAND, built_for, write_build_info

PACKAGE = Path(activations_ext.__file__).resolve().parent
ROOT = PACKAGE.parent

_IMPORT = textwrap.dedent(
    """
    import sys
    try:
        import activations_ext
    except ImportError as e:
        print("ImportError:", e)
        print("cause:", repr(e.__cause__))
        sys.exit(3)
    print("imported", activations_ext.__file__)
    """
)


def _copy_package(tmp_path: Path) -> Path:
    """A copy of the package in ``tmp_path``; the compiled library is a
    link to this build's (unlink it before writing another in its place)."""

    def copy(src, dst):
        if src.endswith(".so"):
            os.symlink(src, dst)
        else:
            shutil.copy2(src, dst)

    dest = tmp_path / "activations_ext"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__"), copy_function=copy)
    return dest


def _import(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", _IMPORT], cwd=str(root), env=env, capture_output=True, text=True, timeout=300
    )


def _record(package_dir: Path) -> dict:
    values: dict = {}
    exec((package_dir / "_build_info.py").read_text(), values)
    return values


def test_this_build_records_the_installed_torch():
    assert (PACKAGE / "_build_info.py").exists(), (
        f"no activations_ext/_build_info.py: this build predates the record; rebuild it with `{REBUILD_COMMAND}`"
    )
    assert built_for() == (torch.__version__, activations_ext.has_cuda_kernels())


def test_write_build_info(tmp_path):
    path = tmp_path / "_build_info.py"
    write_build_info(path, "2.14.1+cu130", True)
    values = _record(tmp_path)
    assert values["TORCH_VERSION"] == "2.14.1+cu130" and values["WITH_CUDA"] is True
    assert 'TORCH_VERSION = "2.14.1+cu130"' in path.read_text()
    write_build_info(path, "2.13.0+cpu", False)
    assert _record(tmp_path)["WITH_CUDA"] is False


# Runs setup.py's build_ext command without compiling anything (the compile
# step, BuildExtension.run, does nothing), to see where it records the build.
_BUILD_EXT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import setuptools
    from setuptools.dist import Distribution
    from torch.utils.cpp_extension import BuildExtension

    kwargs = {}
    setuptools.setup = lambda **kw: kwargs.update(kw)
    setup_py = Path("setup.py").resolve()
    exec(compile(setup_py.read_text(), str(setup_py), "exec"), {"__file__": str(setup_py), "__name__": "__main__"})
    BuildExtension.run = lambda self: None
    cmd = kwargs["cmdclass"]["build_ext"](Distribution({"ext_modules": kwargs["ext_modules"]}))
    cmd.inplace = sys.argv[1] == "inplace"
    cmd.build_lib = sys.argv[2]
    cmd.run()
    """
)


@pytest.mark.parametrize("inplace", [True, False], ids=["inplace", "build_lib"])
def test_build_ext_records_the_torch_next_to_the_library(tmp_path, inplace):
    """In the source tree for in-place (and editable) builds; in build_lib
    otherwise, leaving the source tree's record, that of its own library,
    as it was."""
    src = tmp_path / "src"
    (src / "activations_ext").mkdir(parents=True)
    shutil.copy2(ROOT / "setup.py", src / "setup.py")
    shutil.copy2(PACKAGE / "_build_check.py", src / "activations_ext" / "_build_check.py")
    write_build_info(src / "activations_ext" / "_build_info.py", "0.0.0+other", False)
    build_lib = tmp_path / "build_lib"
    env = {k: v for k, v in os.environ.items() if k != "ACTIVATIONS_EXT_REQUIRE_CUDA"}
    proc = subprocess.run(
        [sys.executable, "-c", _BUILD_EXT, "inplace" if inplace else "build_lib", str(build_lib)],
        cwd=str(src),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = (src if inplace else build_lib) / "activations_ext"
    record = _record(written)
    assert record["TORCH_VERSION"] == torch.__version__
    assert isinstance(record["WITH_CUDA"], bool)
    if not inplace:
        assert _record(src / "activations_ext")["TORCH_VERSION"] == "0.0.0+other"


def test_the_copy_is_what_gets_imported(tmp_path):
    """The other cases' premise: the copy, not the checkout, is imported."""
    copy = _copy_package(tmp_path)
    proc = _import(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"imported {copy / '__init__.py'}" in proc.stdout


def test_a_build_for_another_torch_is_refused(tmp_path):
    copy = _copy_package(tmp_path)
    # A torch other than the running one, whichever that is.
    other = "2.13.0+cpu" if torch.__version__ == "2.14.1+cu130" else "2.14.1+cu130"
    write_build_info(copy / "_build_info.py", other, True)
    proc = _import(tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (
        f"activations_ext was built against torch {other} but torch {torch.__version__} is installed"
        in proc.stdout
    )
    assert f"`{REBUILD_COMMAND}` (in the source checkout)" in proc.stdout


def test_a_build_without_a_record_is_not_checked(tmp_path):
    copy = _copy_package(tmp_path)
    (copy / "_build_info.py").unlink(missing_ok=True)
    proc = _import(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "unrecorded"])
def test_a_library_that_fails_to_load_is_explained(tmp_path, recorded):
    """The loader's own error, chained, with both torch versions and the
    rebuild command."""
    copy = _copy_package(tmp_path)
    (library,) = copy.glob("_C*.so")
    library.unlink()  # the link, not this build's library
    library.write_bytes(b"not a shared library")
    if recorded:
        write_build_info(copy / "_build_info.py", torch.__version__, False)
    else:
        (copy / "_build_info.py").unlink(missing_ok=True)
    proc = _import(tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout
    assert "activations_ext: its compiled library failed to load" in out
    assert str(library) in out  # the loader's message names the file
    assert f"torch {torch.__version__} is installed" in out
    assert f"`{REBUILD_COMMAND}` (in the source checkout)" in out
    built = (
        f"built against torch {torch.__version__} (CPU only)" if recorded else "an unrecorded torch version"
    )
    assert built in out
    assert "cause: ImportError(" in out
