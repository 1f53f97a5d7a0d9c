"""Unix socket steps (servers, connections, path handling) and sendfile."""
import os
import socket

from protocols import RecordingProtocol
from runner import method, step
from steps_transports import record_result
from world import StepError, Str, Unsupported


def _path(r, value):
    if value is None:
        return None
    if str(value).startswith("\0"):
        # Abstract names are global: make them unique with the temporary directory, which
        # the recorder shows as $TMP.
        return "\0" + r.world.path(str(value)[1:])
    return r.world.path(value)


@step("socket")
def make_socket(r, s):
    name = s.arg(0, "a socket name")
    family = {"unix": socket.AF_UNIX, "inet": socket.AF_INET}[s.kw.get("family", "unix")]
    kind = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}[s.kw.get("type", "stream")]
    if s.kw.get("nonblock"):
        kind |= socket.SOCK_NONBLOCK
    sock = socket.socket(family, kind)
    if "bind" in s.kw:
        sock.bind(_path(r, s.kw["bind"]) if family == socket.AF_UNIX else ("127.0.0.1", 0))
    if s.kw.get("ssl"):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        sock = ctx.wrap_socket(sock, server_hostname="localhost", do_handshake_on_connect=False)
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
        if s.kw.get("pathlib"):
            import pathlib
            kw["path"] = pathlib.Path(kw["path"])
    if "sock" in s.kw:
        kw["sock"] = r.world.get(s.kw["sock"])
    for key in ("ssl", "start_serving", "server_hostname", "backlog", "ssl_handshake_timeout",
                "ssl_shutdown_timeout"):
        if key in s.kw:
            kw[key] = s.kw[key] if not hasattr(s.kw[key], "upper") else str(s.kw[key])
    if kw.get("ssl") in ("server", "client") and not isinstance(s.kw["ssl"], Str):
        kw["ssl"] = _tls_context(r, kw["ssl"])
    return kw


def _tls_context(r, side):
    """ssl=server: a context with a throw-away self-signed certificate made by the openssl
    command in the scenario's directory; ssl=client: a context that accepts any certificate."""
    import ssl
    import subprocess
    if side == "client":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    cert, key = r.world.path("tls-cert.pem"), r.world.path("tls-key.pem")
    if not os.path.exists(cert):
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                           timeout=r.world.seconds(10))
        except (OSError, subprocess.SubprocessError) as e:
            raise Unsupported("cannot make a test certificate with openssl: %s" % e)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


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
    if isinstance(f, int) and not isinstance(f, bool):
        # A bare fd (a pipe end) is sent from as a binary file object.
        f = open(f, "rb", buffering=0, closefd=False)
    if isinstance(sock, socket.socket) and not s.kw.get("blocking"):
        sock.setblocking(False)
    kw = _sendfile_kw(s)
    task = r.run_async(s, lambda: r.loop.sock_sendfile(sock, f, **kw), lambda n: record_result(r, s, n))
    if task is not None and "task" in s.kw:
        # Inside a callback the call runs as a task that `cancel NAME` can cancel.
        r.world.handles[str(s.kw["task"])] = task


@step("memory_file")
def memory_file(r, s):
    import io
    from world import pattern
    r.world.bind(s.arg(0, "a name"), io.BytesIO(pattern(int(s.kw.get("size", 0)))))


@step("fd_limit")
def fd_limit(r, s):
    """`fd_limit exhausted` lowers RLIMIT_NOFILE so that the next new fd fails with EMFILE;
    `fd_limit restored` puts the limit back."""
    import resource
    which = s.arg(0, "exhausted or restored")
    saved = r.world.objects.setdefault("$fd_limit", resource.getrlimit(resource.RLIMIT_NOFILE))
    if which == "restored":
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)
        return
    probe = os.open(os.devnull, os.O_RDONLY)
    os.close(probe)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, saved[1]))


@method("connect")
def connect(r, s, obj):
    # A plain blocking connect of an existing socket (no new fd, unlike create_unix_connection).
    obj.connect(_path(r, s.arg(0, "a path")))


@method("sockname")
def sockname(r, s, obj):
    r.rec.returned(s.op, repr(obj.sockets[0].getsockname()))


@step("sendfile")
def sendfile(r, s):
    transport = r.world.get(s.arg(0, "a transport name"))
    f = r.world.get(s.arg(1, "a file name"))
    if isinstance(transport, int):
        raise StepError("line %d: sendfile needs a transport" % s.line)
    kw = _sendfile_kw(s)
    r.run_async(s, lambda: r.loop.sendfile(transport, f, **kw), lambda n: record_result(r, s, n))
