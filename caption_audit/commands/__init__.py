"""CLI subcommands of the core audit."""
