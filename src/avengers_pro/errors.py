"""Errors that carry the place where bad input was found, so users get one clear line."""

from __future__ import annotations


class AvengersProError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(AvengersProError):
    """Bad input data: the message names the file, the line or row and the field.

    ``row_label`` says what ``row`` counts: ``"row"`` (a table's data row) or ``"line"`` (a text
    file's line, as in JSON Lines).
    """

    def __init__(
        self,
        message: str,
        *,
        file: object | None = None,
        row: int | None = None,
        field: str | None = None,
        row_label: str = "row",
    ) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        self.reason = message
        where = [
            part
            for part in (
                self.file,
                None if row is None else f"{row_label} {row}",
                None if field is None else f"field '{field}'",
            )
            if part
        ]
        super().__init__(": ".join([*where, message]))


def plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so messages read ``1.7``, not ``np.float64(1.7)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", None) == 0 else value


class TooFewQueries(DataError):
    """A hyperparameter asks for more than the training queries can give (more clusters than queries).

    Hyperparameter searches skip such a candidate instead of failing: small data is not an error.
    """


class ConfigError(AvengersProError):
    """Bad configuration: the message names the key."""


class EmbeddingError(AvengersProError):
    """The embedding backend failed (the message never contains an API key)."""


class CollectError(AvengersProError):
    """Collecting answers from a chat endpoint failed (the message never contains an API key)."""
