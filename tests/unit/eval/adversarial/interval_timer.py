"""Arms a 4 s SIGALRM interval timer at import, to kill the worker during the next candidate (attack f)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: interval timer
# BASE: knowledge_base/samples/conv1d/seed.py

import signal
signal.setitimer(signal.ITIMER_REAL, 4.0)
