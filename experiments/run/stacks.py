"""The local stacks of one run, started and stopped in one place.

The run engine (``experiments.run.experiment``) makes one ``Stacks`` per run from the spec's stack
settings, starts or reuses the run's own stack through it and closes it at the end, also on failure
or Ctrl-C. Scenarios that restart a stack or switch to another one (capacity's configurations, the
fleet's cells, the tiers' restart before the disk tier) ask it, so that what this run started is
stopped when the run ends (unless --keep-stack); a stack the run found running is left running.
"""

import time
from collections.abc import Callable

from serving.launcher import Stack
from serving.router import switch_policy
from serving.settings import StackSettings


class Stacks:
    def __init__(self, settings: StackSettings, keep: bool = False):
        self.own = Stack(settings)  # the run's own stack: its settings, logs, status
        self.keep = keep
        self.started = False  # whether this run started its own stack (False: it reused a running one)
        self._ours: dict[str, StackSettings] = {}  # stacks this run started, by name: stopped at the end
        self._in_use: dict[str, StackSettings] = {}  # by name, the layout ``use`` last brought up

    @property
    def settings(self) -> StackSettings:
        return self.own.settings

    def up(self) -> bool:
        """Start the run's own stack, or reuse a healthy one; True when this call started it."""
        self.started = self._up(self.settings)
        return self.started

    def running(self, settings: StackSettings) -> bool:
        return Stack(settings).running()

    def use(self, settings: StackSettings) -> None:
        """Make the stack named ``settings.name`` run with exactly ``settings``, once per layout: a fleet
        that differs only by its routing policy gets a new router alone; otherwise the launcher reuses
        a stack that already has the layout and replaces the one recorded under the same name."""
        if self._in_use.get(settings.name) == settings:
            return
        if not switch_policy(settings):
            self._up(settings)
        self._in_use[settings.name] = settings

    def restart(self, settings: StackSettings | None = None) -> float:
        """Stop and start a stack (the run's own by default), so that every server starts fresh;
        returns the seconds the start took."""
        stack = Stack(settings or self.settings)
        stack.down(quiet=True)
        start = time.monotonic()
        stack.up()
        self._in_use[stack.settings.name] = stack.settings
        return round(time.monotonic() - start, 1)

    def stop(self, settings: StackSettings | None = None) -> None:
        """Stop a stack (the run's own by default) now."""
        settings = settings or self.settings
        Stack(settings).down(quiet=True)
        self._in_use.pop(settings.name, None)
        self._ours.pop(settings.name, None)

    def one_at_a_time(self, configs: dict[str, StackSettings], sessions_of: Callable[[str], list],
                      run: Callable[[object], None], prepare: Callable[[StackSettings], None] | None = None) -> None:
        """Run each configuration's sessions (``sessions_of(config)``) on its own stack, one stack at a time
        (there is memory for one): the others are stopped before a configuration's stack starts
        (``prepare`` first, where given), and it is stopped after its sessions, also on failure."""
        for config, settings in configs.items():
            todo = sessions_of(config)
            if not todo:
                continue
            if not self.running(settings):  # a stack already running with these settings is used as it is
                for other in configs.values():
                    if other.name != settings.name:
                        self.stop(other)
                if prepare is not None:
                    prepare(settings)
                self.use(settings)
            try:
                for session in todo:
                    run(session)
            finally:
                self.stop(settings)

    def close(self) -> None:
        """Stop every stack this run started and left running, unless the run keeps them."""
        if self.keep:
            return
        for name, settings in list(self._ours.items()):
            Stack(settings).down(quiet=name != self.settings.name)
            self._ours.pop(name)

    def _up(self, settings: StackSettings) -> bool:
        started = Stack(settings).up()
        if started:
            self._ours[settings.name] = settings
        return started
