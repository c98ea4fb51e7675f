"""`digigami` command line. Lives at the top of the dependency graph (webapi) so that later
commands (`serve`) can reach every layer; each command imports what it needs lazily."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digigami", description="Digigami live avatar engine")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="play the test rig's state machine headless and report")
    demo.add_argument("--seed", type=int, default=0, help="random seed (idle variants, dances)")
    demo.add_argument("--seconds", type=float, default=32.0, help="simulated seconds to play")
    demo.add_argument("--png", type=Path, default=None, help="write a wireframe contact sheet here")
    args = parser.parse_args(argv)

    if args.command in (None, "demo"):
        from engine.demo import run

        run(
            seed=getattr(args, "seed", 0),
            seconds=getattr(args, "seconds", 32.0),
            png=getattr(args, "png", None),
        )
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
