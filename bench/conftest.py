"""Micro benchmark session setup: the thread count, chosen as the report chooses it."""

from __future__ import annotations

import torch

from bench.machine import choose_threads, pick_device


def pytest_addoption(parser):
    parser.addoption(
        "--threads",
        default="auto",
        help="torch threads for the benchmarks: 'auto' (one thread when other work occupies the cores) or N",
    )


def pytest_configure(config):
    threads, _probe, why = choose_threads(config.getoption("--threads"), pick_device())
    torch.set_num_threads(threads)
    config._activations_ext_threads = why


def pytest_report_header(config):
    return f"torch threads: {getattr(config, '_activations_ext_threads', torch.get_num_threads())}"
