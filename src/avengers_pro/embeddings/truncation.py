"""Cutting texts to a token budget, keeping the head.

Three ways, chosen by the backend and ``embedding.tokenizer``:

* :class:`TokenizerJsonTruncator` — a Hugging Face ``tokenizer.json`` (the local model's own
  tokenizer, or the served model's tokenizer for the openai backend). The text is cut at the
  character offset where the last kept token ends, so the kept head is the original text, unchanged.
* :class:`TiktokenTruncator` — a tiktoken encoding such as ``cl100k_base`` (what the reference code
  uses). tiktoken downloads its encoding file on first use; offline this fails with a clear error.
* :class:`CharacterTruncator` — no tokenizer at all: at most ``3 * max_tokens`` characters (the
  reference code's own fallback), with a warning, because the character count only approximates tokens.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from avengers_pro.errors import ConfigError

log = logging.getLogger(__name__)

#: Characters kept per token by the character fallback. English averages about 4 characters per
#: cl100k token, so 3 keeps the text under the budget for prose; code or non-Latin scripts can
#: exceed it (then the server rejects or cuts the text itself).
CHARS_PER_TOKEN = 3


class Truncator(Protocol):
    """Cuts each text to the token budget, keeping its head."""

    def __call__(self, texts: list[str]) -> list[str]:
        """Each text cut to the budget (the head kept)."""
        ...


class TokenizerJsonTruncator:
    """Keep the first ``max_tokens`` tokens of each text by a ``tokenizer.json`` (HF tokenizers).

    Parameters
    ----------
    path
        The ``tokenizer.json`` file.
    max_tokens
        The budget of content tokens (special tokens such as [CLS] are not counted).
    """

    def __init__(self, path: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises bare Exceptions for unreadable files
            raise ConfigError(f"embedding.tokenizer: cannot read tokenizer file {path}: {err}") from err
        # The file may carry padding/truncation settings of its own; they would move the offsets.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def __call__(self, texts: list[str]) -> list[str]:
        """Each text cut to ``max_tokens`` tokens, the head kept."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        out = list(texts)
        for i, encoding in enumerate(encodings):
            if len(encoding.ids) > self.max_tokens:
                # Offsets are character positions in the original string: slicing keeps the text
                # exactly as written (no lower-casing or re-spacing from a decode).
                out[i] = texts[i][: encoding.offsets[self.max_tokens - 1][1]]
        return out


class TiktokenTruncator:
    """Keep the first ``max_tokens`` tiktoken tokens, decoded back to text (the reference's method)."""

    def __init__(self, encoding_name: str, max_tokens: int) -> None:
        try:
            import tiktoken
        except ImportError as err:
            raise ConfigError(
                f"embedding.tokenizer: {encoding_name!r} needs the tiktoken package "
                "(pip install tiktoken), or use tokenizer: chars or a path to a tokenizer.json"
            ) from err
        try:
            self.encoding = tiktoken.get_encoding(encoding_name)
        except ValueError as err:
            raise ConfigError(f"embedding.tokenizer: unknown tiktoken encoding {encoding_name!r}") from err
        except Exception as err:
            # Almost always: no network for tiktoken's first-use download.
            cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", "<temp dir>/data-gym-cache")
            raise ConfigError(
                f"embedding.tokenizer: tiktoken could not load {encoding_name!r} ({type(err).__name__}); "
                f"it downloads the encoding file on first use. Offline, put the file in {cache_dir} "
                "(TIKTOKEN_CACHE_DIR), or use tokenizer: chars or a path to a tokenizer.json"
            ) from err
        self.max_tokens = max_tokens

    def __call__(self, texts: list[str]) -> list[str]:
        """Each text cut to ``max_tokens`` tokens, the head kept."""
        tokens = self.encoding.encode_ordinary_batch(texts)
        return [
            self.encoding.decode(ids[: self.max_tokens]) if len(ids) > self.max_tokens else text
            for text, ids in zip(texts, tokens, strict=True)
        ]


class CharacterTruncator:
    """Keep the first ``CHARS_PER_TOKEN * max_tokens`` characters; warn once when a text is cut."""

    def __init__(self, max_tokens: int) -> None:
        self.max_chars = CHARS_PER_TOKEN * max_tokens
        self.max_tokens = max_tokens
        self._warned = False

    def __call__(self, texts: list[str]) -> list[str]:
        """Each text cut to ``max_tokens`` tokens, the head kept."""
        out = [text[: self.max_chars] for text in texts]
        n_cut = sum(len(text) > self.max_chars for text in texts)
        if n_cut and not self._warned:
            self._warned = True
            log.warning(
                "%d text(s) cut to %d characters (%d per token x max_tokens %d): no tokenizer is "
                "configured, so this only approximates the token budget; set embedding.tokenizer to "
                "the served model's tokenizer.json (or cl100k_base with tiktoken) to cut by tokens",
                n_cut,
                self.max_chars,
                CHARS_PER_TOKEN,
                self.max_tokens,
            )
        return out


def make_truncator(tokenizer: str, max_tokens: int) -> Truncator:
    """The truncator an ``embedding.tokenizer`` value names (used by the openai backend).

    ``chars`` → :class:`CharacterTruncator`; a path to an existing file (or a folder holding
    ``tokenizer.json``) → :class:`TokenizerJsonTruncator`; anything else → a tiktoken encoding name.
    """
    if tokenizer == "chars":
        return CharacterTruncator(max_tokens)
    path = Path(tokenizer).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return TokenizerJsonTruncator(path, max_tokens)
    if "/" in tokenizer or "\\" in tokenizer or tokenizer.endswith(".json"):
        raise ConfigError(f"embedding.tokenizer: no tokenizer file at {path}")
    return TiktokenTruncator(tokenizer, max_tokens)
