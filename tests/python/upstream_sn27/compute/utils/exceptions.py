"""SN27 v2.2.1's `make_error_response`: the shape of every refusal its miner answers."""

import traceback

import bittensor as bt


def make_error_response(message, status=False, exception=None):
    bt.logging.info(message)
    response = {"status": status, "message": message}
    if exception is None:
        response["exception"] = ""
        response["traceback"] = ""
    else:
        response["exception"] = type(exception).__name__
        response["traceback"] = traceback.format_exception(exception)
    return response
