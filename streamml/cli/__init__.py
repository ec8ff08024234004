"""The ``streamml`` command line: the parser, its log lines, and one module per verb."""
