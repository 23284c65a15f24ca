"""The repository root and which `minga` binary a script runs."""

import os
import subprocess
import sys
from pathlib import Path

from .log import log

REPO = Path(__file__).resolve().parent.parent.parent


def resolve_binary(path, prog):
    """--binary PATH if given (must be executable), else .build/debug/minga, built with
    `swift build --product minga` if missing. `prog` names the script in messages."""
    if path:
        b = Path(path).expanduser().resolve()
        if not os.access(b, os.X_OK):
            sys.exit(f"{prog}: {b} is not an executable")
        return b
    b = REPO / ".build" / "debug" / "minga"
    if not b.exists():
        log(f"{prog}: building minga (swift build --product minga)")
        r = subprocess.run(["swift", "build", "--product", "minga"], cwd=REPO)
        if r.returncode != 0 or not b.exists():
            sys.exit(f"{prog}: swift build failed")
    return b
