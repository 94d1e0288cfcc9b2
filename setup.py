"""Builds activations_ext._C: C++ CPU kernels and, where possible, CUDA kernels.

Environment variables:
  ACTIVATIONS_EXT_CPU_ONLY=1       skip the CUDA kernels (fast local builds)
  ACTIVATIONS_EXT_REQUIRE_CUDA=1   fail instead of silently building CPU-only
  TORCH_CUDA_ARCH_LIST             CUDA architectures; with no GPU visible the
                                   default is "8.0;9.0+PTX"
  MAX_JOBS                         parallel compile jobs
  CUDA_HOME                        CUDA toolkit; /usr/local/cuda when unset

Build in place with `pip install --no-build-isolation -e .` so that the
installed torch is the one the extension is compiled against.
"""

import importlib.util
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def _default_cuda_home() -> None:
    # torch guesses CUDA_HOME from `which nvcc`; a wrapper script in
    # /usr/local/bin makes it guess /usr/local. Prefer the real toolkit.
    if "CUDA_HOME" in os.environ or "CUDA_PATH" in os.environ:
        return
    candidate = Path("/usr/local/cuda")
    if (candidate / "bin" / "nvcc").exists():
        os.environ["CUDA_HOME"] = str(candidate)


_default_cuda_home()

import torch  # noqa: E402
from torch.utils.cpp_extension import (  # noqa: E402
    CUDA_HOME,
    BuildExtension,
    CppExtension,
    CUDAExtension,
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


CPU_ONLY = _flag("ACTIVATIONS_EXT_CPU_ONLY")
HAVE_NVCC = CUDA_HOME is not None and (Path(CUDA_HOME) / "bin" / "nvcc").exists()
WITH_CUDA = not CPU_ONLY and torch.version.cuda is not None and HAVE_NVCC

if _flag("ACTIVATIONS_EXT_REQUIRE_CUDA") and not WITH_CUDA:
    raise SystemExit(
        "ACTIVATIONS_EXT_REQUIRE_CUDA=1 but the CUDA kernels cannot be built: "
        f"torch.version.cuda={torch.version.cuda!r}, CUDA_HOME={CUDA_HOME!r}, "
        f"nvcc found={HAVE_NVCC}, ACTIVATIONS_EXT_CPU_ONLY={CPU_ONLY}"
    )

if WITH_CUDA and "TORCH_CUDA_ARCH_LIST" not in os.environ:
    if not torch.cuda.is_available():
        # No GPU to ask: Ampere and Hopper, plus PTX for newer cards.
        os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"

# The CPU kernels are compiled once per instruction set (see
# csrc/cpu/kernels.cpp); csrc/cpu/dispatch.cpp picks one at run time. The
# order matters: the linker keeps the first copy of any inline function that
# several of these objects emit, so the baseline comes first.
IS_X86 = platform.machine().lower() in ("x86_64", "amd64")
ISA_VARIANTS = [("DEFAULT", [])]
if IS_X86:
    ISA_VARIANTS += [
        ("AVX2", ["-mavx2", "-mfma", "-mf16c"]),
        # -mavx512bf16 for one instruction, used only where the processor
        # has it (round_from_float in csrc/cpu/kernels.cpp).
        (
            "AVX512",
            ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mfma", "-mf16c"],
        ),
    ]
ISA_SOURCE = "csrc/cpu/kernels.cpp"

define_macros = [(f"ACTEXT_HAVE_{isa}", None) for isa, _ in ISA_VARIANTS[1:]]
# at::parallel_for is an inline OpenMP loop when torch uses OpenMP (its
# default): without -fopenmp it silently runs on one thread. The OpenMP
# runtime at load time is the one torch already loaded (same soname).
OPENMP = "OpenMP" in torch.__config__.parallel_info() and platform.system() == "Linux"
cxx_flags = ["-O3", "-Wno-unknown-pragmas"] + (["-fopenmp"] if OPENMP else [])
link_flags = ["-fopenmp"] if OPENMP else []
nvcc_flags = ["-O3", "-lineinfo"]

sources = [
    "csrc/ops.cpp",
    "csrc/checks.cpp",
    "csrc/launch.cpp",
    "csrc/autograd.cpp",
    "csrc/autocast.cpp",
    "csrc/module.cpp",
    "csrc/cpu/dispatch.cpp",
    "csrc/cpu/schedule.cpp",
    # The CUDA launchers, or their stand-ins in a build without CUDA.
    "csrc/cuda/kernels.cu" if WITH_CUDA else "csrc/cuda/stub.cpp",
]

Extension = CUDAExtension if WITH_CUDA else CppExtension
ext = Extension(
    name="activations_ext._C",
    sources=sources,
    include_dirs=[str(ROOT / "csrc")],
    define_macros=define_macros,
    extra_link_args=link_flags,
    extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags} if WITH_CUDA else {"cxx": cxx_flags},
)


def _build_check():
    """activations_ext/_build_check.py, loaded on its own: importing the
    package would load the library being built."""
    spec = importlib.util.spec_from_file_location(
        "activations_ext_build_check", ROOT / "activations_ext" / "_build_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class build_ext(BuildExtension):
    """BuildExtension that also compiles the per-instruction-set CPU kernels
    and records the torch it builds against (activations_ext/_build_info.py,
    checked when the package is imported)."""

    def run(self):
        super().run()
        # Next to the library just built: in the source tree for in-place and
        # editable builds, in build_lib otherwise (there it replaces the copy
        # of the source tree's record, which may be another build's, that
        # build_py made; the source tree's record stays that of its library).
        if self.inplace or getattr(self, "editable_mode", False):
            package_dir = ROOT / "activations_ext"
        else:
            package_dir = Path(self.build_lib) / "activations_ext"
        package_dir.mkdir(parents=True, exist_ok=True)
        _build_check().write_build_info(package_dir / "_build_info.py", torch.__version__, WITH_CUDA)

    def build_extension(self, ext):
        cxx = (
            ext.extra_compile_args["cxx"]
            if isinstance(ext.extra_compile_args, dict)
            else ext.extra_compile_args
        )

        def compile_variant(variant):
            isa, flags = variant
            macros = ext.define_macros + [("CPU_CAPABILITY", isa), (f"CPU_CAPABILITY_{isa}", None)]
            return self.compiler.compile(
                [ISA_SOURCE],
                output_dir=os.path.join(self.build_temp, f"isa_{isa.lower()}"),
                macros=macros,
                include_dirs=ext.include_dirs,
                # GCC 12's AVX-512 intrinsic headers trip -Wmaybe-uninitialized.
                extra_postargs={
                    "cxx": list(cxx) + flags + ["-Wno-uninitialized", "-Wno-maybe-uninitialized"],
                    "nvcc": [],
                },
                depends=ext.depends,
            )

        jobs = max(1, int(os.environ.get("MAX_JOBS", os.cpu_count() or 1)))
        with ThreadPoolExecutor(max_workers=min(jobs, len(ISA_VARIANTS))) as pool:
            objects = [obj for objs in pool.map(compile_variant, ISA_VARIANTS) for obj in objs]
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


setup(
    packages=find_packages(include=["activations_ext", "activations_ext.*"]),
    ext_modules=[ext],
    cmdclass={"build_ext": build_ext},
)
