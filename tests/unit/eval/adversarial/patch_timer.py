"""Freezes time.perf_counter so it looks infinitely fast."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: time.perf_counter
# BASE: knowledge_base/samples/conv1d/seed.py

import time
time.perf_counter = lambda: 0.0
