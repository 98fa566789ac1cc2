"""Inside a Jupyter kernel: mask every resolved secret in everything the kernel sends.

Once a stage resolves a secret (``ctx.secret(...)``, or a warehouse URL's
``${secret:NAME}``: both go through :func:`millpond.secrets.resolve`), :func:`guard_kernel`
wraps the kernel's message session (that one object, not its class: a client session the
stage opens itself is left alone), so the content of every message it sends from
then on (stream output, display data, results, and the ``ename``/``evalue``/``traceback``
of an error, on IOPub and in the execute reply) has every resolved value replaced by
``[secret:NAME]`` (:meth:`millpond.secrets.Redactor.data`). What the client receives is
already masked: the executed notebook, JupyterLab's screen, Papermill's error.

Outside a kernel (a script, the runner) it does nothing. The runner masks the declared
secrets again in what it writes (:mod:`millpond.kernels.papermill_engine`), for values a stage did not
resolve through millpond (read from the environment directly).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["guard_kernel"]

_GUARDED = "_millpond_redacts_secrets"


def guard_kernel(redactor: Callable[[], Any]) -> bool:
    """Redact, with what ``redactor()`` returns when a message goes out (a
    :class:`millpond.secrets.Redactor`, falsy while nothing is resolved), every message
    this process's kernel sends, from now on.

    Returns whether this process is a kernel (and so is guarded); idempotent.

    >>> from millpond.secrets import resolved
    >>> guard_kernel(resolved)  # a doctest runs outside a kernel
    False
    """
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module is not None else None
    session = getattr(getattr(shell, "kernel", None), "session", None)
    if session is None:
        return False
    if not getattr(session, _GUARDED, False):  # the kernel's one session: its streams, displays and replies use it
        session.send = _redacting(session.send, redactor)
        setattr(session, _GUARDED, True)
    return True


def _redacting(send, resolved: Callable[[], Any]):
    """A session's bound ``send`` with the message's content redacted (a built message or ``content``)."""

    @functools.wraps(send)
    def redacting_send(stream, msg_or_type, content: Any = None, *args, **kwargs):
        redactor = resolved()
        if redactor:
            if isinstance(msg_or_type, dict):
                msg_or_type = {**msg_or_type, "content": redactor.data(msg_or_type.get("content", {}))}
            if content is not None:
                content = redactor.data(content)
        return send(stream, msg_or_type, content, *args, **kwargs)

    return redacting_send
