"""Kernels forked ahead of need (:mod:`millpond.kernels.pool`) bind ports of their own
choosing: nothing picks a port in one process for another to bind later."""

from __future__ import annotations

import json

import psutil

from millpond.kernels.pool import KERNEL_ARGUMENTS, PORTS, KernelPool


def test_a_pooled_kernel_listens_on_the_ports_it_is_taken_with(tmp_path):
    pool = KernelPool(size=2)
    try:
        pool.fill()
        files = sorted(pool._folder.glob("kernel-*.json"))
        kernels = [pool.take(list(KERNEL_ARGUMENTS)) for _ in range(2)]
        assert all(k is not None for k in kernels)
        for kernel in kernels:
            ports = {kernel.info[p] for p in PORTS}
            assert len(ports) == 5 and 0 not in ports
            listening = {
                c.laddr.port
                for c in psutil.Process(kernel.pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN
            }
            assert ports <= listening, (ports, listening)
            assert {json.loads(kernel.connection_file.read_text())[p] for p in PORTS} == ports
        assert len(files) >= 2
    finally:
        for kernel in [k for k in locals().get("kernels", []) if k is not None]:
            psutil.Process(kernel.pid).kill()
        pool.close()
