"""Secret references: parameters carry ``secret:NAME``, the kernel resolves the value.

A secret is declared once in ``millpond.yml`` as a reference to an environment
variable::

    secrets:
      pg_password: {env: MILLPOND_PG_PASSWORD}

Notebooks, executed copies, reports, logs and the metadata store only ever see the
reference (``secret:pg_password``); :func:`resolve` reads the value inside the process
that needs it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from millpond.errors import MillpondError

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
    return value


def expand_placeholders(text: str, declared: Mapping[str, str]) -> str:
    """Replace every ``${secret:NAME}`` in ``text`` by its value.

    >>> os.environ["DOCTEST_PW"] = "pw"
    >>> expand_placeholders("postgres://u:${secret:pw}@h/db", {"pw": "DOCTEST_PW"})
    'postgres://u:pw@h/db'
    """
    return _PLACEHOLDER.sub(lambda m: resolve(m.group(1), declared), text)


def redact(text: str, declared: Mapping[str, str]) -> str:
    """Mask every known secret value occurring in ``text``.

    >>> os.environ["DOCTEST_PW"] = "pw123"
    >>> redact("failed to connect with pw123", {"pw": "DOCTEST_PW"})
    'failed to connect with ***'
    """
    for env_var in declared.values():
        value = os.environ.get(env_var)
        if value and len(value) >= 3:
            text = text.replace(value, "***")
    return text
