"""Secret references: parameters carry ``secret:NAME``, the kernel resolves the value.

A secret is declared once in ``millpond.yml`` as a reference to an environment
variable::

    secrets:
      pg_password: {env: MILLPOND_PG_PASSWORD}

Notebooks, executed copies, reports, logs and the metadata store only ever see the
reference (``secret:pg_password``); :func:`resolve` reads the value inside the process
that needs it.

A value that was resolved can still travel: in an exception message (a URL with a
token in it), a printed line, a traceback. :class:`Redactor` is the one place that
masks values, as ``[secret:NAME]``, in text or in JSON-like data, in the forms a value
takes on its way (percent-encoded in a URL, escaped by ``repr``, JSON or HTML).
Every value :func:`resolve` returns is remembered (:func:`resolved`), and inside a
Jupyter kernel everything the kernel sends is redacted from then on
(:mod:`millpond.kernel_redaction`); the runner redacts the declared secrets' values
again from everything it writes or sends (:meth:`Redactor.from_environment`).
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from millpond.errors import MillpondError
from millpond.kernel_redaction import guard_kernel

SECRET_PREFIX = "secret:"
_PLACEHOLDER = re.compile(r"\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}")


def is_reference(value: object) -> bool:
    """Whether ``value`` is a secret reference string.

    >>> is_reference("secret:pg_password"), is_reference("hunter2")
    (True, False)
    """
    return isinstance(value, str) and value.startswith(SECRET_PREFIX)


def resolve(reference: str, declared: Mapping[str, str]) -> str:
    """Return the value behind ``secret:NAME`` (or a bare ``NAME``).

    Parameters
    ----------
    reference
        ``"secret:NAME"`` or ``"NAME"``.
    declared
        Secret name to environment variable name, from ``millpond.yml``.

    Examples
    --------
    >>> os.environ["DOCTEST_TOKEN"] = "s3cr3t"
    >>> resolve("secret:token", {"token": "DOCTEST_TOKEN"})
    's3cr3t'
    """
    name = reference.removeprefix(SECRET_PREFIX)
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise MillpondError(f"secret {name!r} is not declared in millpond.yml (declared: {known})")
    env_var = declared[name]
    value = os.environ.get(env_var)
    if value is None:
        raise MillpondError(f"secret {name!r}: environment variable {env_var} is not set")
    _RESOLVED.add(name, value)
    guard_kernel(resolved)
    return value


def expand_placeholders(text: str, declared: Mapping[str, str]) -> str:
    """Replace every ``${secret:NAME}`` in ``text`` by its value.

    >>> os.environ["DOCTEST_PW"] = "pw"
    >>> expand_placeholders("postgres://u:${secret:pw}@h/db", {"pw": "DOCTEST_PW"})
    'postgres://u:pw@h/db'
    """
    return _PLACEHOLDER.sub(lambda m: resolve(m.group(1), declared), text)


MIN_LENGTH = 3
"""Shorter values are not masked: they would mask ordinary text and hide nothing."""


def marker(name: str) -> str:
    """What stands where the value of secret ``name`` stood.

    >>> marker("api_token")
    '[secret:api_token]'
    """
    return f"[{SECRET_PREFIX}{name}]"


def _forms(value: str) -> set[str]:
    r"""The forms ``value`` takes in what a program prints: as is, percent-encoded (a URL's path
    or query), escaped by ``repr``, JSON or HTML.

    >>> sorted(_forms("a/b+c"))
    ['a%2Fb%2Bc', 'a/b%2Bc', 'a/b+c']
    >>> value = 'say "it\'s" & go'
    >>> printed = f"{value!r} {json.dumps(value)} {html.escape(value)}"
    >>> print(printed)
    'say "it\'s" & go' "say \"it's\" & go" say &quot;it&#x27;s&quot; &amp; go
    >>> print(Redactor({"pw": value}).text(printed))
    '[secret:pw]' "[secret:pw]" [secret:pw]
    """
    found = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }
    return {form for form in found if len(form) >= MIN_LENGTH}


class Redactor:
    """Secret values by name, and how to mask them in text and in JSON-like data.

    Examples
    --------
    >>> redactor = Redactor({"api_token": "tok/9+z="})
    >>> redactor.text("403 for url 'https://api.example/v1?token=tok%2F9%2Bz%3D'")
    "403 for url 'https://api.example/v1?token=[secret:api_token]'"
    >>> redactor.data({"error": "bad tok/9+z=", "rows": [1, "tok/9+z="]})
    {'error': 'bad [secret:api_token]', 'rows': [1, '[secret:api_token]']}
    >>> bool(Redactor({"pin": "12"}))  # too short to mask
    False
    """

    def __init__(self, values: Mapping[str, str] | None = None):
        self._lock = threading.Lock()
        self._known: set[tuple[str, str]] = set()
        self._replacements: list[tuple[str, str]] = []  # (form, marker), longest form first
        for name, value in (values or {}).items():
            self.add(name, value)

    @classmethod
    def from_environment(cls, declared: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Redactor:
        """The values of the ``declared`` secrets (name to variable) set in ``environ`` (default ``os.environ``).

        >>> Redactor.from_environment({"pw": "DOCTEST_UNSET_VARIABLE"}, {})
        Redactor([])
        >>> Redactor.from_environment({"pw": "PW"}, {"PW": "hunter2"})
        Redactor(['pw'])
        """
        environ = os.environ if environ is None else environ
        return cls({name: environ[var] for name, var in declared.items() if environ.get(var)})

    def add(self, name: str, value: str) -> None:
        """Mask ``value`` from now on (a value under :data:`MIN_LENGTH` characters is not)."""
        if not isinstance(value, str) or len(value) < MIN_LENGTH or (name, value) in self._known:
            return
        with self._lock:
            self._known.add((name, value))
            pairs = {(form, marker(name)) for form in _forms(value)} | set(self._replacements)
            self._replacements = sorted(pairs, key=lambda pair: (-len(pair[0]), pair))

    def __bool__(self) -> bool:
        return bool(self._replacements)

    def __repr__(self) -> str:
        return f"Redactor({sorted({name for name, _ in self._known})})"

    def text(self, text: str) -> str:
        """``text`` with every form of every value replaced by its marker."""
        for form, mask in self._replacements:
            if form in text:
                text = text.replace(form, mask)
        return text

    def data(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, tuples, strings) with every string redacted; keys stay."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.data(item) for item in value)
        return value

    def file(self, path: Path) -> bool:
        """Rewrite the text file ``path`` redacted, if it holds a value; whether it did.

        >>> import tempfile
        >>> page = Path(tempfile.mkdtemp()) / "page.html"
        >>> _ = page.write_text("<pre>GET /v1/tok/9+z=</pre>")
        >>> Redactor({"t": "tok/9+z="}).file(page), page.read_text()
        (True, '<pre>GET /v1/[secret:t]</pre>')
        """
        if not self._replacements:
            return False
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        masked = self.text(text)
        if masked is text:
            return False
        partial = path.with_name(f".{path.name}.redacting")
        partial.write_text(masked, encoding="utf-8", errors="surrogateescape")
        partial.replace(path)
        return True

    def in_place(self, value: Any) -> None:
        """Redact every string inside ``value`` (nested dicts and lists, e.g. a notebook) in place.

        >>> nb = {"cells": [{"outputs": [{"text": "token tok/9+z="}]}]}
        >>> Redactor({"t": "tok/9+z="}).in_place(nb)
        >>> nb
        {'cells': [{'outputs': [{'text': 'token [secret:t]'}]}]}
        """
        if not self._replacements:
            return
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, str):
                masked = self.text(item)
                if masked is not item:
                    value[key] = masked
            elif isinstance(item, (dict, list)):
                self.in_place(item)


_RESOLVED = Redactor()


def resolved() -> Redactor:
    """The values :func:`resolve` returned in this process, by secret name (and those
    :func:`remember_declared` added): the metadata store masks them in all it writes."""
    return _RESOLVED


def remember_declared(declared: Mapping[str, str]) -> Redactor:
    """Add the values of the ``declared`` secrets set in the environment to :func:`resolved`,
    for a process that handles data a stage made (the runner, a check) without resolving
    anything itself; returns them.

    >>> os.environ["DOCTEST_TOKEN"] = "tok-remembered"
    >>> remember_declared({"token": "DOCTEST_TOKEN"}), resolved().text("x tok-remembered")
    (Redactor(['token']), 'x [secret:token]')
    """
    found = Redactor.from_environment(declared)
    for name, value in found._known:
        _RESOLVED.add(name, value)
    return found


def redact(text: str, declared: Mapping[str, str]) -> str:
    """Mask every value of the ``declared`` secrets (set in the environment) occurring in ``text``.

    >>> os.environ["DOCTEST_PW"] = "pw123"
    >>> redact("failed to connect with pw123", {"pw": "DOCTEST_PW"})
    'failed to connect with [secret:pw]'
    """
    return Redactor.from_environment(declared).text(text)
