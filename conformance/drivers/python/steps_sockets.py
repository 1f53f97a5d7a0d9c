"""Unix socket steps (servers, connections, path handling) and sendfile."""
import os
import socket

from protocols import RecordingProtocol
from runner import step
from steps_transports import record_result
from world import StepError


def _path(r, value):
    return None if value is None else r.world.path(value)


@step("socket")
def make_socket(r, s):
    name = s.arg(0, "a socket name")
    family = {"unix": socket.AF_UNIX, "inet": socket.AF_INET}[s.kw.get("family", "unix")]
    kind = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}[s.kw.get("type", "stream")]
    sock = socket.socket(family, kind)
    if "bind" in s.kw:
        sock.bind(_path(r, s.kw["bind"]) if family == socket.AF_UNIX else ("127.0.0.1", 0))
    r.world.bind(name, sock)


@step("stale_socket")
def stale_socket(r, s):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(_path(r, s.arg(0, "a path")))
    sock.close()


@step("path_exists")
def path_exists(r, s):
    r.rec.returned(s.op, os.path.exists(_path(r, s.arg(0, "a path"))))


def _sock_kw(r, s):
    kw = {}
    if "path" in s.kw:
        kw["path"] = _path(r, s.kw["path"])
    if "sock" in s.kw:
        kw["sock"] = r.world.get(s.kw["sock"])
    for key in ("ssl", "start_serving", "server_hostname", "backlog"):
        if key in s.kw:
            kw[key] = s.kw[key] if not hasattr(s.kw[key], "upper") else str(s.kw[key])
    return kw


@step("create_unix_server")
def create_unix_server(r, s):
    name = s.arg(0, "a server name")
    counter = [0]

    def factory():
        counter[0] += 1
        conn = "%s.%d" % (name, counter[0])
        proto = RecordingProtocol(r, conn)
        r.world.protocols[conn] = proto
        return proto

    def bound(server):
        r.world.objects[name] = server
    kw = _sock_kw(r, s)
    r.run_async(s, lambda: r.loop.create_unix_server(factory, **kw), bound)


@step("create_unix_connection")
def create_unix_connection(r, s):
    name = s.arg(0, "a connection name")
    proto = RecordingProtocol(r, name)
    r.world.protocols[name] = proto
    kw = _sock_kw(r, s)

    def bound(result):
        r.world.objects[name] = result[0]
    r.run_async(s, lambda: r.loop.create_unix_connection(lambda: proto, **kw), bound)


def _sendfile_kw(s):
    kw = {}
    for key in ("offset", "count", "fallback"):
        if key in s.kw:
            kw[key] = s.kw[key]
    return kw


@step("sock_sendfile")
def sock_sendfile(r, s):
    sock = r.world.get(s.arg(0, "a socket name"))
    f = r.world.get(s.arg(1, "a file name"))
    if isinstance(sock, socket.socket):
        sock.setblocking(False)
    kw = _sendfile_kw(s)
    r.run_async(s, lambda: r.loop.sock_sendfile(sock, f, **kw), lambda n: record_result(r, s, n))


@step("sendfile")
def sendfile(r, s):
    transport = r.world.get(s.arg(0, "a transport name"))
    f = r.world.get(s.arg(1, "a file name"))
    if isinstance(transport, int):
        raise StepError("line %d: sendfile needs a transport" % s.line)
    kw = _sendfile_kw(s)
    r.run_async(s, lambda: r.loop.sendfile(transport, f, **kw), lambda n: record_result(r, s, n))
