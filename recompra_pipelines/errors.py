"""Errors as one line naming their root cause, for the CLI and for run summaries."""

from __future__ import annotations

import psycopg
import pydantic
import sqlalchemy as sa

MAX_LINE = 500


class StepError(RuntimeError):
    """An error whose message is the whole account: where it happened and what its cause said.

    Reports stop at it instead of descending to its cause, which stays chained (`raise ... from`)
    so the traceback still shows where the cause came from.
    """


def step_error_names() -> frozenset[str]:
    """Class names of the StepError kinds (a serialized Dagster error keeps only the name)."""
    names, pending = set(), [StepError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return frozenset(names)


def root_cause(error: BaseException) -> str:
    """`Type: message` of the innermost exception `error` was raised from, on one line.

    A database error is reported by the driver's own first line (which never includes the
    statement or its parameters: those can carry tokens), an error raised from another by that
    other one, since it says what actually went wrong; a StepError by itself.
    """
    cause = innermost(error)
    if isinstance(cause, sa.exc.DBAPIError) and cause.orig is not None:
        cause = cause.orig
    where = "database: " if isinstance(cause, psycopg.Error) else ""
    return one_line(f"{where}{type(cause).__name__}: {cause}")


def innermost(error: BaseException) -> BaseException:
    seen = {id(error)}
    while not isinstance(error, StepError):
        nested = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if nested is None or id(nested) in seen:
            return error
        seen.add(id(nested))
        error = nested
    return error


def one_line(text: str) -> str:
    """The first line of `text` (a database error's DETAIL line can hold a row's values)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def validation_problems(error: pydantic.ValidationError, *, whole: str = "") -> list[str]:
    """Each problem of a pydantic validation as ``<field.path>: <message>`` (pydantic's
    ``Value error, `` prefix dropped: our validators' messages say what is wrong); a problem of
    the whole object is prefixed with ``whole``, or with nothing when it is empty."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or whole
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return problems
