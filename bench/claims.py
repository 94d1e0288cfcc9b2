"""Run some of the report's training experiments alone and write their
verdicts and sections (the report's own code renders them).

    python -m bench.claims linear_collapse large_init negative_data lenet sparsity --out DIR [--quick]
    python -m bench.claims --out DIR --rerender
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from bench import experiments as E
from bench import report as R
from bench.machine import environment, pick_device

SECTIONS = R.LATER_CLAIMS


def render(res: dict, out: Path) -> Path:
    """claims.md (and the figures) from the results alone."""
    names = list(res["experiments"])
    verdicts = [SECTIONS[n][2](**SECTIONS[n][1](res)) for n in names]
    figures: list = []
    parts = [R.verdict_section(verdicts, res.get("mode") == "quick")]
    for n, v in zip(names, verdicts):
        parts += SECTIONS[n][3](res["experiments"][n], v, out, figures)
    env = res["environment"]
    head = f"Measured on {env['device_name']}, torch {env['torch']}, {env['torch_threads']} threads, {env['date']}.\n\n"
    path = out / "claims.md"
    path.write_text(head + "\n".join(parts))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiments", nargs="*", help=f"any of {sorted(SECTIONS)}")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rerender", action="store_true", help="measure nothing: render DIR/claims.json again")
    a = p.parse_args(argv)
    if a.rerender:
        print(f"wrote {render(json.loads((a.out / 'claims.json').read_text()), a.out)}")
        return 0
    unknown = sorted(set(a.experiments) - set(SECTIONS)) or ([] if a.experiments else ["(none given)"])
    if unknown:
        p.error(f"experiments must be among {sorted(SECTIONS)}; got {unknown}")
    device = pick_device()
    cfg = E.ExperimentConfig.preset(a.quick)
    a.out.mkdir(parents=True, exist_ok=True)
    res = {"environment": environment(device), "mode": "quick" if a.quick else "full", "experiments": {}}
    res["environment"]["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    for name in a.experiments:
        res["experiments"][name] = getattr(E, name)(cfg, device, lambda s: print(s, flush=True))
    with open(a.out / "claims.json", "w") as f:
        json.dump(res, f, indent=1, default=str)
    print(f"wrote {render(res, a.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
