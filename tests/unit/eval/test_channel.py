"""The verdict channel: framed JSON round-trips; garbage, silence and closed pipes are told apart."""

from __future__ import annotations

import os
import struct
import time

import pytest

from kernelevolve.eval.wire.channel import (
    ChannelClosed,
    ChannelTimeout,
    MalformedMessage,
    recv_message,
    send_message,
)


@pytest.fixture()
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_message_round_trips_with_unicode_and_nesting(pipe):
    r, w = pipe
    message = {"kind": "result", "nonce": "ab" * 16, "result": {"reason": "max err 3e-2 > 1e-4 ✗", "x": [1, 2.5]}}
    send_message(w, message)
    assert recv_message(r, deadline=time.monotonic() + 1) == message


def test_non_json_frame_is_malformed(pipe):
    r, w = pipe
    os.write(w, struct.pack(">I", 5) + b"\xff\xfe{{{")
    with pytest.raises(MalformedMessage):
        recv_message(r, deadline=time.monotonic() + 1)


def test_json_that_is_not_an_object_is_malformed(pipe):
    r, w = pipe
    os.write(w, struct.pack(">I", 2) + b"[]")
    with pytest.raises(MalformedMessage):
        recv_message(r, deadline=time.monotonic() + 1)


def test_oversized_length_header_is_malformed_without_reading_it(pipe):
    r, w = pipe
    os.write(w, struct.pack(">I", 2**31))
    with pytest.raises(MalformedMessage):
        recv_message(r, deadline=time.monotonic() + 1)


def test_silence_times_out(pipe):
    r, _ = pipe
    with pytest.raises(ChannelTimeout):
        recv_message(r, deadline=time.monotonic() + 0.05)


def test_closed_writer_mid_frame_is_closed(pipe):
    r, w = pipe
    os.write(w, struct.pack(">I", 10) + b"{")
    os.close(w)
    with pytest.raises(ChannelClosed):
        recv_message(r, deadline=time.monotonic() + 1)
