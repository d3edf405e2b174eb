"""Errors an ERP connector raises; their messages never contain credentials."""


class ErpRequestError(RuntimeError):
    """The ERP could not be asked, or answered with an error, after the allowed retries."""


class FetchDeadlinePassed(ErpRequestError):
    """The fetch step's deadline passed before the ERP could be asked for all of the day."""


class ErpPayloadError(ValueError):
    """The ERP answered, but the response as a whole cannot be read (not a list of sales)."""
