"""A stand-in sandboxed main whose start-up answers are given verbatim: the handshake's view of a forged ready.

Run by WorkerProcess (`module=`, `extra_args=("--ready", JSON, ...)`): it answers the hello with the first
`--ready` object (the nonce added) and each `warm` with the next one, then waits until the channel closes.
Nothing here is typed on purpose: it writes what a broken or hostile harness could write.
"""

from __future__ import annotations

import argparse
import json
import sys

from kernelevolve.eval.wire.channel import ChannelClosed, recv_message, send_message


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-fd", type=int, required=True)
    parser.add_argument("--verdict-fd", type=int, required=True)
    parser.add_argument("--ready", action="append", default=[])
    args, _ = parser.parse_known_args()
    for answer in args.ready:
        try:
            message = recv_message(args.job_fd)
        except ChannelClosed:
            return 0
        send_message(args.verdict_fd, {**json.loads(answer), "nonce": message.get("nonce")})
    try:
        while True:
            recv_message(args.job_fd)
    except ChannelClosed:
        return 0


if __name__ == "__main__":
    sys.exit(main())
