import sys

from .main import run

sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))
