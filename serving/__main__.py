"""``python -m serving up|down|status|settings|model``: the local stack from the command line."""

import argparse
import sys

from rich.console import Console
from rich.table import Table

from lab.cli import command
from lab.settings import describe, resolve_with_sources
from serving.launcher import Stack
from serving.model import resolve_model_dir
from serving.settings import StackSettings


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Start, inspect and stop the local vLLM + LMCache stack. Settings come from LMLAB_* variables.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "settings", "model"])
    args = parser.parse_args(argv)
    out = Console()
    settings, sources = resolve_with_sources(StackSettings)
    stack = Stack(settings)
    if args.command == "up":
        stack.up()
        out.print(settings.endpoint)
    elif args.command == "down":
        stack.down()
    elif args.command == "status":
        rows = stack.status()
        if not rows:
            out.print(f"stack '{settings.name}' is not running")
            return 1
        table = Table("service", "pid", "port", "alive", "healthy", "log")
        for r in rows:
            table.add_row(*(str(r[k]) for k in ("service", "pid", "port", "alive", "healthy", "log")))
        out.print(table)
        return 0 if all(r["healthy"] for r in rows) else 1
    elif args.command == "settings":
        table = Table("setting", "environment variable", "value", "from", "description")
        for name, env, _default, desc in describe(StackSettings):
            table.add_row(name, env, str(getattr(settings, name)), sources[name], desc)
        out.print(table)
    elif args.command == "model":
        out.print(resolve_model_dir(settings.model_dir, hub_ids=settings.gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
