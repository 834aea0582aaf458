"""The parameter store on AWS Systems Manager Parameter Store (``BGR_PARAM_STORE_URL=ssm://``).

Read through aws-lambda-powertools Parameters (``SSMProvider``), as the original service did:
``SecureString`` values decrypted, the JSON transform applied, and each value cached for
``BGR_CONFIG_MAX_AGE_S`` by the provider (in a Lambda, across invocations). The single-flight,
stale-on-error and warming behaviour stays in :class:`~bgremover.params.cache.TenantConfigCache`, on
top: the provider caches, it does not serve a stale value when SSM fails, nor share one load between
threads.

The endpoint, region and credentials are boto3's own configuration (``AWS_ENDPOINT_URL_SSM`` or
``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``), so the same URL reaches AWS, LocalStack or moto. SSM
took 5-10 s per call in the original deployment, so reads may take up to ``READ_TIMEOUT_S``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.config import Config
from botocore.exceptions import ClientError

from bgremover.params.base import InvalidParameterError, ParameterNotFoundError, ParameterStoreError

READ_TIMEOUT_S = 20


def _not_found(exc: GetParameterError) -> bool:
    """Powertools wraps every failure in ``GetParameterError``; the SDK's error is its context."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ParameterNotFound"


class SsmParameterStore:
    def __init__(self, provider: SSMProvider, *, max_age_s: float) -> None:
        self._provider = provider
        self._max_age_s = int(max_age_s)

    @classmethod
    def from_url(cls, url: str, *, max_age_s: float) -> SsmParameterStore:
        if url.rstrip("/") != "ssm:":
            raise ValueError(f"unsupported parameter store URL (expected ssm://): {url!r}")
        config = Config(
            connect_timeout=5, read_timeout=READ_TIMEOUT_S, retries={"max_attempts": 3, "mode": "standard"}
        )
        return cls(SSMProvider(boto_config=config), max_age_s=max_age_s)

    def get(self, key: str) -> Any:
        try:
            return self._provider.get(key, max_age=self._max_age_s, transform="json", decrypt=True)
        except TransformParameterError as exc:
            raise InvalidParameterError(f"parameter {key} is not JSON: {exc}") from exc
        except GetParameterError as exc:
            if _not_found(exc):
                raise ParameterNotFoundError(key) from None
            raise ParameterStoreError(f"cannot read parameter {key}: {exc}") from exc

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``: names only, undecrypted (Powertools caches a listing under the path,
        not per parameter, so ``get`` reads and decrypts each value itself)."""
        path = prefix.rstrip("/")
        try:
            values = self._provider.get_multiple(
                path, max_age=self._max_age_s, decrypt=False, recursive=True, raise_on_transform_error=False
            )
        except GetParameterError as exc:
            raise ParameterStoreError(f"cannot list parameters under {prefix}: {exc}") from exc
        for name in values:
            yield f"{path}/{name}"
