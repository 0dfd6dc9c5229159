"""Calls sys.exit(0) while being imported."""
# EXPECT: crashed
# TASK: conv1d
# REASON: sys.exit
# BASE: knowledge_base/samples/conv1d/seed.py

import sys
sys.exit(0)
