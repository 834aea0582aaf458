"""Run in its own process by the handler tests, as a Lambda execution environment would: the ``BGR_*``
environment is set first, then ``bgremover.aws.api`` is imported (the init phase) and each event of the
JSON list on stdin is handed to ``handler``, warm. Prints the responses, the heavy modules the import
loaded and the distributions whose modules it loaded."""

from __future__ import annotations

import importlib.metadata
import json
import sys

HEAVY = ("onnxruntime", "cv2", "sklearn")

if __name__ == "__main__":
    events = json.load(sys.stdin)
    from apigw_events import lambda_context

    from bgremover.aws.api import handler

    loaded = [name for name in HEAVY if name in sys.modules]
    owners = importlib.metadata.packages_distributions()
    distributions = sorted(
        {dist for name in list(sys.modules) for dist in owners.get(name.split(".")[0], [])}
    )
    responses = [handler(event, lambda_context()) for event in events]
    json.dump({"loaded": loaded, "distributions": distributions, "responses": responses}, sys.stdout)
