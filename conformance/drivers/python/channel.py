"""The driver's side of the JSON-lines protocol (INTERPRETING.md, section 2).

stdout carries protocol messages only, so the real fd 1 is moved aside at start-up
and fd 1 is pointed at stderr: a child that inherits stdout, or a stray print,
can never corrupt the channel.
"""
import json
import os
import sys

PROTOCOL_VERSION = 1


class Channel(object):
    def __init__(self):
        out_fd = os.dup(1)
        os.set_inheritable(out_fd, False)
        os.dup2(2, 1)
        self._out = os.fdopen(out_fd, "w", encoding="utf-8")
        self._next_id = 1

    def send(self, obj):
        obj = dict(obj)
        obj["msg_id"] = self._next_id
        self._next_id += 1
        self._out.write(json.dumps(obj, sort_keys=True) + "\n")
        self._out.flush()

    def receive(self):
        """Next message from stdin, or None at EOF."""
        while True:
            line = sys.stdin.readline()
            if not line:
                return None
            line = line.strip()
            if line:
                return json.loads(line)
