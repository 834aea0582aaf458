"""The Powertools utilities every worker-side handler shares: one service name and one metrics
namespace, which the template's alarms name (``BgRemover``, dimension ``service=bg-remover``).

Logger lines carry the Lambda request id (``inject_lambda_context``) beside the tenant and job ids;
Metrics are CloudWatch embedded-metric-format lines on stdout, flushed once per invocation; Tracer
sends X-Ray segments when the function has active tracing and is a no-op elsewhere (Powertools
disables it outside Lambda, and an environment without the X-Ray daemon only loses UDP datagrams).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "bg-remover"
NAMESPACE = "BgRemover"

logger = Logger(service=SERVICE)
logging.getLogger(SERVICE).propagate = False  # its own JSON lines, not again through structlog's root
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
