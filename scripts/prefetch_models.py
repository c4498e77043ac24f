#!/usr/bin/env python
"""Download Lecture Lab's models once, before class, so the app runs with no network.

    python scripts/prefetch_models.py                       # default models into the HF cache
    python scripts/prefetch_models.py --all                 # the alternatives too
    python scripts/prefetch_models.py --dir ./local_models  # a folder to copy to other machines
    LECTURE_LAB_MODEL_DIR=./local_models streamlit run app.py

Running it again only fetches what is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.loading import MODEL_DIR_ENV  # noqa: E402
from models.prefetch import prefetch  # noqa: E402
from models.registry import MODELS, default_models, get_entry  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help=f"write to this folder (the app reads it through {MODEL_DIR_ENV})")
    parser.add_argument(
        "--all", action="store_true", help="also the alternative models (DistilGPT-2, DistilBERT, LAION CLIP)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="KEY", help="just these models: " + ", ".join(e.key for e in MODELS)
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be fetched and its size, fetch nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        entries = [get_entry(key) for key in args.only] if args.only else list(MODELS if args.all else default_models())
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    total_mb = sum(entry.size_mb for entry in entries)
    where = f"folder {args.dir}" if args.dir else "the Hugging Face cache"
    print(f"Prefetching {len(entries)} model(s), about {total_mb:,} MB, into {where}:")
    for entry in entries:
        print(f"  - {entry.key:<26} {entry.size_mb:>5} MB  {entry.licence}")
    if args.dry_run:
        return 0
    try:
        outcomes = prefetch(entries, args.dir.resolve() if args.dir else None)
    except Exception as error:  # network faults: say what failed and that a rerun resumes
        print(f"\nFailed: {type(error).__name__}: {error}\nRun the same command again to resume.", file=sys.stderr)
        return 1
    on_disk = sum(outcome.bytes_on_disk for outcome in outcomes)
    print(f"\nDone: {on_disk / 1e6:,.0f} MB on disk.")
    if args.dir:
        print(f"Start the app with:  {MODEL_DIR_ENV}={args.dir} streamlit run app.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
