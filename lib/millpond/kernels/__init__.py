"""Jupyter kernels for stage notebooks, apart from the runner that schedules them.

- :mod:`~millpond.kernels.forkserver`, :mod:`~millpond.kernels.fork_daemon`,
  :mod:`~millpond.kernels.fork_children`: the warm engine's fork server: one process that
  imported everything once forks a fresh kernel per stage (``call_forked`` runs a function
  in such a child, so the runner imports no Ibis);
- :mod:`~millpond.kernels.fork_kernel`, :mod:`~millpond.kernels.pool`: a jupyter_client
  kernel manager and provisioner for forked kernels, one forked ahead of need;
- :mod:`~millpond.kernels.papermill_engine`: the Papermill engine that hands a kernel its
  run context and kills it at its deadline;
- :mod:`~millpond.kernels.warm_paths`: code paths exercised once in the server, inherited
  by every kernel; :mod:`~millpond.kernels.notebook_html`: an executed notebook as
  offline HTML.
"""
