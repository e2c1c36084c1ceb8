"""The ``connectord`` command line: one module per command, named exit codes."""
