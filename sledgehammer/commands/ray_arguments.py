"""The options that the Ray commands (`predict-corpus`, `serve-ray`) share."""
import argparse


def add_ray_arguments(subparser: argparse.ArgumentParser, workers: str) -> None:
    """
    Adds `--num-threads` (CPUs Ray reserves for each of the command's `workers`, and their torch threads) and
    `--address` (a cluster to join).
    """
    subparser.add_argument("--num-threads", type=int, default=None, metavar="N",
                           help=f"CPUs reserved for each {workers} and its torch threads (default: 1 CPU, torch's own "
                           "thread count)")
    subparser.add_argument("--address", default=None, metavar="ADDRESS",
                           help="a running Ray cluster to join (HOST:6379 of `ray start --head`, ray://HOST:10001 or "
                           "auto); without it Ray starts on this machine, bound to 127.0.0.1")
