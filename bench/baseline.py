"""The kernel measurements under a second torch installation.

The extension is built in place, one ``activations_ext/_C*.so`` per checkout,
for one torch. To compare our kernels with torch's own under another torch
(another virtual environment's ``python``), :func:`run_baseline`:

1. copies the package's sources into ``build/baseline/<key>/src`` and installs
   a build of them for that torch into ``build/baseline/<key>/site`` with
   ``<python> -m pip install --no-build-isolation --no-deps --target``; the key
   hashes the sources and that torch's version, so an unchanged checkout
   reuses the build;
2. runs ``bench/kernels.py`` *by path* with that python and
   ``PYTHONPATH=<site>``: run by path, ``bench/`` rather than the repository
   root is first on ``sys.path``, so the checkout's in-place build (made for
   the other torch) is not imported;
3. returns the JSON it wrote (the report adds it as extra columns).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["setup.py", "pyproject.toml", "README.md", "csrc", "activations_ext"]


def _source_files() -> List[Path]:
    files: List[Path] = []
    for entry in SOURCES:
        p = ROOT / entry
        if p.is_dir():
            files += sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix in {".py", ".h", ".cpp", ".cu", ".cuh"}
            )
        elif p.exists():
            files.append(p)
    return files


def torch_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def build_for(python: str, cpu_only: bool, log: Callable[[str], None] = print) -> Path:
    """A private install of the package built for ``python``'s torch; returns its folder."""
    version = torch_version(python)
    h = hashlib.sha256(f"{version}|{Path(python).resolve()}|cpu_only={cpu_only}".encode())
    files = _source_files()
    for f in files:
        if f.suffix != ".md":  # the readme is needed to build, not part of what is built
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    key = f"torch-{version.replace('+', '-')}-{h.hexdigest()[:12]}"
    base = ROOT / "build" / "baseline" / key
    site, stamp = base / "site", base / "site" / ".built"
    if stamp.exists():
        log(f"reusing the build for torch {version} in {site}")
        return site
    src = base / "src"
    for f in files:
        dest = src / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    if site.exists():
        shutil.rmtree(site)
    env = dict(os.environ)
    if cpu_only:
        env["ACTIVATIONS_EXT_CPU_ONLY"] = "1"
    env.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    log(f"building activations_ext for torch {version} ({python}) into {site}")
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    cmd += ["--no-build-isolation", "--no-deps", "--target", str(site), str(src)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building for {python} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    stamp.write_text(version + "\n")
    # Only the newest build per torch is worth keeping.
    for other in (ROOT / "build" / "baseline").glob(f"torch-{version.replace('+', '-')}-*"):
        if other != base:
            shutil.rmtree(other, ignore_errors=True)
    return site


def run_baseline(
    python: str,
    out_json: Path,
    quick: bool,
    threads: int,
    cpu_only: bool = True,
    log: Callable[[str], None] = print,
    on_progress: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Builds (or reuses) the private install for ``python`` and runs the kernel
    measurements there (``on_progress`` gets their progress lines). Returns
    their JSON."""
    # Absolute (not resolved: a venv's python is a symlink that must stay one),
    # since the measurement runs in another folder.
    python = os.path.abspath(python)
    site = build_for(python, cpu_only, log)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)
    cmd = [python, str(ROOT / "bench" / "kernels.py"), "--out", str(out_json), "--no-compile"]
    cmd += ["--threads", str(threads)] + (["--quick"] if quick else [])
    log("measuring kernels under " + python)
    proc = subprocess.Popen(cmd, env=env, cwd=str(site), stderr=subprocess.PIPE, text=True)
    tail: List[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        tail = (tail + [line])[-40:]
        if on_progress is not None and line.startswith("["):
            on_progress(line.strip())
    if proc.wait() != 0:
        raise RuntimeError(f"kernel measurement under {python} failed:\n{''.join(tail)}")
    with open(out_json) as f:
        result = json.load(f)
    used = result["environment"]["activations_ext_file"]
    if not Path(used).resolve().is_relative_to(site.resolve()):
        raise RuntimeError(f"the baseline run imported {used}, not the build in {site}")
    return result
