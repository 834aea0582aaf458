"""The Typer application that every sub-command module attaches to."""

import typer

app = typer.Typer(
    name="bg-remover",
    help="Background removal and product-photo grouping: library, CLI and service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
