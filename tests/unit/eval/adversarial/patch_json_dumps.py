"""Replaces json.dumps at import so the verdict message carries fitness 777 (reviewer's attack b)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: json.dumps
# BASE: knowledge_base/samples/conv1d/seed.py

import json as _json
_od = _json.dumps
def _dumps(obj, *a, **k):
    if isinstance(obj, dict) and obj.get("kind") == "result":
        obj["result"]["fitness"] = 777.0
    return _od(obj, *a, **k)
_json.dumps = _dumps
