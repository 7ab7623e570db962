"""`llmkit run | report | serve`: the course from the command line.

llmkit run                         every notebook at the lesson profile into outputs/<run-id>/
llmkit run 01 02 --profile smoke   some notebooks, by number or stem
llmkit run 01 --out DIR -p seed 3  into DIR, with papermill parameters (values read as YAML: -p cols '["a", "b"]')
llmkit run --strict-timing         speed claims fail the run too (by default they are recorded, not enforced)
llmkit report outputs/latest       rebuild index.html of a run
llmkit serve BUNDLE                serve a bundle (export.build_bundle) over HTTP on 127.0.0.1
"""

from __future__ import annotations

import argparse
import sys

from llmkit.core.errors import LlmkitError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmkit", description="The llmkit course runner.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute notebooks with papermill into a new run folder")
    run.add_argument("notebooks", nargs="*", help="numbers or stems (default: every notebook, in order)")
    run.add_argument(
        "--profile", choices=("smoke", "lesson", "full"), help="default: $LLMKIT_PROFILE or lesson"
    )
    run.add_argument("--out", help="run folder (default: a new outputs/<run-id>/)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a papermill parameter for every notebook run (repeatable)",
    )

    run.add_argument(
        "--strict-timing",
        action="store_true",
        help="a missed speed claim fails its notebook (default: recorded as not met, with the machine)",
    )

    report = sub.add_parser("report", help="rebuild index.html of a run folder and print its table")
    report.add_argument("run_dir", help="a run folder, e.g. outputs/latest")

    from llmkit.deploy import serve  # cheap: FastAPI and the model load when the service starts

    serve.add_arguments(sub.add_parser("serve", help="serve a model bundle over HTTP (notebook 08)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from llmkit.course import runner

    try:
        if args.command == "run":
            parameters = {name: runner.parse_value(value) for name, value in args.parameter}
            _, results = runner.run_course(
                args.notebooks, args.profile, args.out, parameters, strict_timing=args.strict_timing
            )
            return 0 if all(r.status == "passed" for r in results) else 1
        if args.command == "report":
            path = runner.write_report(args.run_dir)
            print(runner.format_table(runner.collect(args.run_dir)))
            print(f"report: {path}")
            return 0
        if args.command == "serve":
            from llmkit.deploy import serve

            return serve.run(args)
    except LlmkitError as exc:
        print(f"llmkit: error: {exc}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse enforces the commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
