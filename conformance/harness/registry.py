"""The implementations the harness can run, and how each is started.

    ref                   the C++ reference driver over impl/
    cpython               asyncio on the default python3
    cpythonX.Y[.Z]        asyncio on pyenv's X.Y (or any interpreter of that exact version)
    cpython-system        asyncio on Debian's /usr/bin/python3
    uvloop                uvloop on /usr/bin/python3 (where it is installed)
    python:MODULE:FACTORY any asyncio-compatible loop factory, on /usr/bin/python3 by default

Adding an implementation is one entry in `resolve`: how to start it and which loop it uses.
"""
import glob
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.dirname(HERE)
TOP = os.path.dirname(CONFORMANCE)
PYTHON_DRIVER = os.path.join(CONFORMANCE, "drivers", "python")
SYSTEM_PYTHON = "/usr/bin/python3"
MIN_PYTHON = (3, 9)


class UnknownImplementation(ValueError):
    pass


class Implementation(object):
    def __init__(self, name, kind, python=None, loop="asyncio", version=None):
        self.name = name
        self.kind = kind          # "python" or "ref"
        self.python = python
        self.loop = loop
        self.version = version    # CPython version hosting it (python kind)

    @property
    def is_cpython(self):
        return self.kind == "python" and self.loop == "asyncio"

    def __repr__(self):
        return "Implementation(%r)" % self.name


_version_cache = {}


def python_version(path):
    """X.Y.Z of an interpreter, or None when it cannot be run."""
    if path in _version_cache:
        return _version_cache[path]
    m = os.path.basename(os.path.dirname(os.path.dirname(path)))
    if "/.pyenv/versions/" in path and m.count(".") == 2 and m.replace(".", "").isdigit():
        _version_cache[path] = m
        return m
    try:
        out = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20, check=True)
        v = out.stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        v = None
    _version_cache[path] = v
    return v


def default_python():
    """The interpreter `python3` names, resolved past pyenv's shim to the real executable."""
    p = shutil.which("python3")
    if p is None:
        return None
    try:
        out = subprocess.run([p, "-c", "import sys; print(sys.executable)"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=20, check=True)
        return out.stdout.decode().strip() or p
    except (OSError, subprocess.SubprocessError):
        return p


def pyenv_pythons():
    """version -> path for pyenv interpreters >= 3.9."""
    out = {}
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for path in sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3"))):
        v = os.path.basename(os.path.dirname(os.path.dirname(path)))
        parts = v.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and tuple(map(int, parts[:2])) >= MIN_PYTHON:
            out[v] = path
    return out


def all_cpythons():
    """Every CPython on the machine: list of (version, path), oldest first, one per version."""
    found = dict(pyenv_pythons())
    for p in (SYSTEM_PYTHON, default_python()):
        if p and os.path.exists(p):
            v = python_version(p)
            if v and tuple(map(int, v.split(".")[:2])) >= MIN_PYTHON and v not in found:
                found[v] = p
    return sorted(found.items(), key=lambda kv: tuple(map(int, kv[0].split("."))))


def has_uvloop(python=SYSTEM_PYTHON):
    if not os.path.exists(python):
        return False
    return subprocess.run([python, "-c", "import uvloop"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=20).returncode == 0


def known_names():
    names = ["ref", "cpython", "cpython-system", "uvloop", "python:MODULE:FACTORY"]
    for v, _ in all_cpythons():
        short = "cpython" + ".".join(v.split(".")[:2])
        if short not in names:
            names.append(short)
        names.append("cpython" + v)
    return names


def resolve(name, host_python=None):
    """Implementation for a registry name; raises UnknownImplementation with the known names."""
    if name == "ref":
        return Implementation("ref", "ref")
    if name == "cpython":
        p = default_python()
        if p is None:
            raise UnknownImplementation("cpython: no python3 on PATH")
        return _python_impl(name, p, "asyncio")
    if name == "cpython-system":
        return _python_impl(name, SYSTEM_PYTHON, "asyncio")
    if name == "uvloop":
        return _python_impl(name, host_python or SYSTEM_PYTHON, "uvloop")
    if name.startswith("python:"):
        parts = name.split(":")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise UnknownImplementation("%r: expected python:MODULE:FACTORY, e.g. python:uvloop:new_event_loop" % name)
        return _python_impl(name, host_python or SYSTEM_PYTHON, name)
    if name.startswith("cpython"):
        want = name[len("cpython"):]
        for v, p in reversed(all_cpythons()):
            if v == want:
                return _python_impl(name, p, "asyncio", v)
        pyenv = pyenv_pythons()
        for v in sorted(pyenv, key=lambda x: tuple(map(int, x.split("."))), reverse=True):
            if ".".join(v.split(".")[:2]) == want:
                return _python_impl(name, pyenv[v], "asyncio", v)
        for v, p in reversed(all_cpythons()):
            if ".".join(v.split(".")[:2]) == want:
                return _python_impl(name, p, "asyncio", v)
    raise UnknownImplementation("unknown implementation %r; known: %s" % (name, ", ".join(known_names())))


def _python_impl(name, path, loop, version=None):
    if not os.path.exists(path):
        raise UnknownImplementation("%s: interpreter %s does not exist" % (name, path))
    version = version or python_version(path)
    if version is None:
        raise UnknownImplementation("%s: interpreter %s does not run" % (name, path))
    if tuple(map(int, version.split(".")[:2])) < MIN_PYTHON:
        raise UnknownImplementation("%s: Python %s is older than 3.9" % (name, version))
    return Implementation(name, "python", path, loop, version)
