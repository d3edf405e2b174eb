"""Errors an ERP connector raises; their messages never contain credentials."""


class ErpRequestError(RuntimeError):
    """The ERP could not be asked, or answered with an error, after the allowed retries."""


class ErpPayloadError(ValueError):
    """The ERP answered, but the response as a whole cannot be read (not a list of sales)."""
