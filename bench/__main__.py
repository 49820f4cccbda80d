"""`python -m bench run|steps|batch`: see bench/README.md."""

from __future__ import annotations

import argparse
import json

from bench import report
from bench.run import Options, measure

STEPS = (100, 250, 500, 1000, 2000)


def _options(args: argparse.Namespace, monitors: int) -> Options:
    return Options(
        monitors=monitors,
        boards=args.boards,
        duration_s=args.duration,
        database=args.db,
        postgres_url=args.postgres_url,
        instances=args.instances,
        redis_url=args.redis_url,
        profile=args.profile,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("command", choices=("run", "steps", "batch"))
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--boards", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--instances", type=int, choices=(1, 2), default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--name", default=None, help="result file name (default from the options)")
    parser.add_argument(
        "--profile",
        default=None,
        help="write a py-spy profile of the (first) server over the measured window to this "
        "file (speedscope JSON; needs `pip install py-spy`)",
    )
    args = parser.parse_args()
    if args.command == "run":
        result = measure(_options(args, args.monitors))
        print(json.dumps(result, indent=2))
        print(report.write(result, args.name or result["name"]))
    elif args.command == "steps":
        best = None
        for monitors in STEPS:
            result = measure(_options(args, monitors))
            report.write(result, f"step-{result['name']}")
            print(monitors, result["reading_to_board_ms"], result["lost"], result["meets_budget"])
            if result["meets_budget"]:
                best = monitors
            else:
                break
        print(f"largest N within the budget: {best}")
    else:
        from bench.batch import batch_run

        result = batch_run(args)
        print(json.dumps(result, indent=2))
        print(report.write_batch(result, args.name or result["name"]))


if __name__ == "__main__":
    main()
