"""``python -m warden`` works where the console script is not on PATH (pyenv shims, CI)."""
from warden.cli import main

main()
