"""Helpers shared by more than one test folder live in tests/ (kernel_tree.py builds git
trees of posted patches); --import-mode=importlib keeps tests/ off sys.path, so put it on."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
