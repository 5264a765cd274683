"""The book's tooling: the notebook runner, the Sphinx site extension, the benchmark and the CLI."""
