"""``python -m serving up|down|status|settings|model``: the local stack from the command line."""

import sys

from rich.console import Console
from rich.table import Table

from lab.cli import ArgumentParser, command
from lab.errors import UserError
from lab.settings import as_text, describe, resolve_params, resolve_with_sources
from serving.capacity import describe as describe_capacity
from serving.capacity import read_model_shape
from serving.launcher import Stack
from serving.model import resolve_model_dir
from serving.settings import StackSettings


@command
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m serving",
        description="Start, inspect and stop the local vLLM + LMCache stack. Settings come from LMLAB_* variables.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "settings", "model", "capacity"])
    parser.add_argument("--manual-tokens", type=int, default=4000,
                        help="capacity: how many manuals of this many prompt tokens each tier keeps (default 4000)")  # fmt: skip
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
        out.print(scenario_params_table())
    elif args.command == "capacity":
        if args.manual_tokens < 1:
            raise UserError(f"--manual-tokens must be at least 1, got {args.manual_tokens}")
        shape = read_model_shape(resolve_model_dir(settings.model_dir, log=lambda *_: None, hub_ids=settings.gpu), settings.dtype)
        table = Table("tier", "size", "KV tokens", f"manuals of {args.manual_tokens:,} tokens", "how",
                      title=f"cache capacity of stack '{settings.name}' ({shape.kv_bytes_per_token:,} bytes of KV per token)")  # fmt: skip
        for row in describe_capacity(settings, shape, args.manual_tokens):
            table.add_row(*row.values())
        out.print(table)
    elif args.command == "model":
        out.print(resolve_model_dir(settings.model_dir, hub_ids=settings.gpu))
    return 0


def scenario_params_table() -> Table:
    """Each scenario's own parameters, resolved as a run would resolve them."""
    # Imported here: the scenarios sit above the launcher; only this listing reaches up to them.
    from experiments.scenarios import SCENARIOS

    table = Table("setting", "environment variable", "value", "from", "description", title="scenario parameters")
    for scenario in SCENARIOS.values():
        if scenario.params_class is None:
            continue
        params, sources = resolve_params(scenario.params_class)
        for name, env, _default, desc in describe(scenario.params_class):
            table.add_row(name, env, as_text(getattr(params, name)), sources[name], desc)
    return table


if __name__ == "__main__":
    sys.exit(main())
