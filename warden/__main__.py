"""``python -m warden`` works where the console script is not on PATH (pyenv shims, CI).

Failure contract: that of ``warden.cli.main`` (one-line errors, non-zero exit).
"""
from warden.cli import main

main()
