"""Run the simulator: ``python -m simulator --port 8099 --scenario demo [--count N --seed S]``.

The scenario is a preset (demo, clean, faulty) or a JSON file of Scenario fields.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from simulator.scenario import PRESETS, load_scenario
from simulator.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--scenario", default="demo", help=f"a preset ({', '.join(PRESETS)}) or a JSON file"
    )
    parser.add_argument("--count", type=int, help="number of recordings (metadata elements)")
    parser.add_argument("--seed", type=int, help="seed of the data set and the faults")
    parser.add_argument("--api-key", help="accepted API key (Authorization: App <key>)")
    parser.add_argument("--cache-dir", type=Path, help="where generated media clips are kept")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="only the routes Infobip publishes; videos through the account switch (on)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        strict = {"strict": True, "video_download_preparation": True} if args.strict else {}
        scenario = load_scenario(
            args.scenario, count=args.count, seed=args.seed, api_key=args.api_key, **strict
        )
    except ValueError as exc:
        sys.stderr.write(f"simulator: {str(exc).splitlines()[0]}\n")
        return 2
    try:
        serve(scenario, host=args.host, port=args.port, cache_dir=args.cache_dir)
    except OSError as exc:
        sys.stderr.write(f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
