"""Write the shipped initial coefficients and regenerate the paper's Table 6.

1. Fits orders 5/4 of every function in ``pau.init.SHIPPED`` in forms A, B, C
   and N and writes ``pau/init/coefficients_v1.json`` (``pau.init.datafile``;
   ``--skip-data`` keeps the existing file).
2. Checks Table 6 column by column against its own definition
   (``pau.init.table6_check``) and writes ``results/table6.csv`` and
   ``results/table6.md``.

Needs the fitting extra: pip install -e ".[fit]".
Usage: python scripts/fit_coefficients.py [--skip-data] [--out results]
"""
from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import pau
from pau.init import datafile, table6_check

ROOT = Path(__file__).resolve().parents[1]
log = partial(print, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-data", action="store_true", help="do not rewrite the shipped data file")
    ap.add_argument("--out", type=Path, default=ROOT / "results")
    args = ap.parse_args()
    if not args.skip_data:
        log("fitting the shipped coefficients (orders 5/4, forms A, B, C, N)")
        path = ROOT / "pau" / "init" / datafile.DATA_FILE
        count = datafile.write_data(path, pau.__version__, log)
        log(f"wrote {path.relative_to(ROOT)} ({count} entries)")
    log("checking Table 6")
    for failure in table6_check.write_table(args.out, log):
        log("  does not hold:", failure)


if __name__ == "__main__":
    main()
