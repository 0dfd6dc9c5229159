"""Opens a TCP connection at import."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: network access
# BASE: knowledge_base/samples/conv1d/seed.py

import socket
try:
    socket.create_connection(('1.1.1.1', 80), timeout=1)
except OSError:
    pass
