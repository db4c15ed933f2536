"""The pinned requirements of ``requirements-gpu.txt``, read the way pip reads a requirements file.

``fetch_wheels.sh`` downloads one wheel per line this prints; a unit test parses the committed file
with the same function, so a line pip would read differently (an inline comment, say) fails there
and not on a fresh machine.

    python3 -m experiments.gpu.requirements [FILE]   # one NAME==VERSION per line
"""

import re
import sys
from pathlib import Path

from lab.cli import command
from lab.errors import UserError

# pip's own rule (pip._internal.req.req_file.COMMENT_RE): '#' at the start or after whitespace
# begins a comment; a '#' inside a token (a URL fragment) does not.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


def parse_requirements(text: str, source: str = "requirements") -> list[tuple[str, str]]:
    """(name, version) of every pinned line, in file order; anything but ``NAME==VERSION`` is refused."""
    pins: list[tuple[str, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        match = _PIN.match(line.replace(" ", ""))
        if match is None:
            # --no-deps downloads exactly these files: a range, extra or option would fetch something else.
            raise UserError(f"{source}:{lineno}: {raw.strip()!r} is not NAME==VERSION")
        pins.append((match["name"], match["version"]))
    return pins


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0] if argv else "requirements-gpu.txt")
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    for name, version in parse_requirements(text, str(path)):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
