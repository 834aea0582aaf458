"""``bgremover.aws.api.handler``: the HTTP API behind API Gateway (HTTP API, payload format 2.0).

The FastAPI application is the one ``serve`` runs; Mangum turns each event into an ASGI request and
the response back into the event API Gateway expects (base64 bodies both ways for photos, ZIPs and
images). Everything is built once, in the Lambda init phase, and reused by every warm invocation:
the settings, the adapters (``BGR_*`` URLs, as anywhere else), the tenant resolver's keys. Mangum's
lifespan support is off because it would run the app's start-up and shutdown on every invocation.

Nothing here reads the parameter store or loads a model: the cold start imports neither ONNX Runtime,
OpenCV nor scikit-learn (``tests/aws/test_api_handler.py`` checks it).
"""

from __future__ import annotations

from mangum import Mangum

from bgremover.api import create_app
from bgremover.observability.logging import configure_logging
from bgremover.settings import get_settings
from bgremover.wiring import build_services

configure_logging("api")
_settings = get_settings()
_app = create_app(build_services(_settings), _settings)
_app.state.api.resolver.start()  # stored keys and the JWKS before the first request, as serve does

handler = Mangum(_app, lifespan="off")
