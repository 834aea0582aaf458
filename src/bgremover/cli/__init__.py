"""The ``bg-remover`` command. Each sub-command lives in its own module and registers itself on
``bgremover.cli.app.app``; importing them here is what makes them part of the command."""

from bgremover.cli import group as _group  # noqa: F401  (registers `group`)
from bgremover.cli import keys as _keys  # noqa: F401  (registers `keys`)
from bgremover.cli import models as _models  # noqa: F401  (registers `models`)
from bgremover.cli import remove as _remove  # noqa: F401  (registers `remove`)
from bgremover.cli import serve as _serve  # noqa: F401  (registers `serve`)
from bgremover.cli import worker as _worker  # noqa: F401  (registers `worker`)
from bgremover.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
