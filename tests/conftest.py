import sys
from pathlib import Path

# Make tests/truth.py importable as `truth` and the project root as packages.
sys.path.insert(0, str(Path(__file__).parent))
