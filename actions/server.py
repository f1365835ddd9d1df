"""The action server process: rasa-sdk's action server which, as soon as it listens, starts
preparing the company-wide data the answers are sliced from (:func:`actions.data.warm_up`:
deals and the stage model, accounts, activities, leads and the lead scorer, the stored
insights, every account's order history) in background threads, so the first question after
``salesbot serve`` does not wait for them.

    python -m actions.server --actions actions -p 5055

It takes the arguments of ``python -m rasa_sdk`` and serves the same way (rasa-sdk's
``endpoint.run``), with the warm-up added to the app each Sanic worker builds.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from functools import partial
from typing import Any

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
from rasa_sdk.executor import ActionExecutor
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json as json_response
from sanic.worker.loader import AppLoader
from sqlalchemy.exc import SQLAlchemyError

from actions import data
from actions.base import today_for
from actions.settings import get_settings
from store.db import StoreUnavailableError, cached_engine
from store.identity import ACTION_ENDPOINT_PURPOSE, internal_token

log = logging.getLogger(__name__)


async def start_warm_up(app: Sanic, *_: Any) -> None:
    """Start building the kept company data of the configured store (returns at once)."""
    settings = get_settings()
    try:
        data.warm_up(cached_engine(settings.store_url, interactive=True), today_for(settings))
    except (SQLAlchemyError, StoreUnavailableError) as exc:
        log.warning("could not start preparing the company data: %s", exc)


def only_rasa(token: str) -> Any:
    """Request middleware: a call to ``/webhook`` must carry ``?token=<token>`` (Rasa's
    ``action_endpoint.token``, which ``salesbot serve`` writes into Rasa's endpoints from
    the same identity secret); anything else gets 401 before any action runs."""

    async def check(request: Request) -> HTTPResponse | None:
        if not request.path.rstrip("/").endswith("/webhook"):
            return None
        given = request.args.get("token") or ""
        if hmac.compare_digest(str(given), token):
            return None
        log.warning("refused an action call without Rasa's token from %s", request.ip)
        return json_response({"error": "this endpoint only answers Rasa"}, status=401)

    return check


def create_app(action_executor: ActionExecutor, **options: Any) -> Sanic:
    """rasa-sdk's app (``create_app_for_serve``) with :func:`start_warm_up` after start and
    :func:`only_rasa` in front of the webhook."""
    app = create_app_for_serve(action_executor, **options)
    app.register_listener(start_warm_up, "after_server_start")
    secret = get_settings().secret()
    app.register_middleware(only_rasa(internal_token(secret, ACTION_ENDPOINT_PURPOSE)), "request")
    return app


def serve(args: argparse.Namespace) -> None:
    """What ``python -m rasa_sdk`` does with ``args`` (HTTP only), with :func:`create_app`."""
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    loader = AppLoader(
        factory=partial(
            create_app,
            executor,
            cors_origins=args.cors,
            auto_reload=args.auto_reload,
            endpoints=args.endpoints,
        )
    )
    app = loader.load()
    app.prepare(
        host=os.environ.get("SANIC_HOST", "0.0.0.0"),
        port=args.port,
        ssl=create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password),
        workers=utils.number_of_sanic_workers(),
    )
    Sanic.serve(primary=app, app_loader=loader)


def main(argv: list[str] | None = None) -> None:
    args = create_argument_parser().parse_args(argv)
    if args.grpc:
        sys.exit("the gRPC action server is not supported here: run python -m rasa_sdk --grpc")
    serve(args)


if __name__ == "__main__":
    main()
