"""Finds (or builds) the native pieces the harness needs: the child program and the ref driver."""
import os
import subprocess
import sys

from harness.registry import CONFORMANCE, TOP

CHILD_TARGET = "loopcheck-child"
REF_TARGET = "loopcheck-ref-driver"
CHILD_SOURCE = os.path.join(CONFORMANCE, "child", "loopcheck_child.c")


def build_dir():
    return os.environ.get("LOOPCHECK_BUILD_DIR") or os.path.join(TOP, "build", "default")


def child_in(build):
    return os.path.join(build, "conformance", "child", CHILD_TARGET)


def ref_driver_in(build):
    return os.path.join(build, "conformance", "drivers", "ref", REF_TARGET)


def _log(msg):
    sys.stderr.write("conform: %s\n" % msg)
    sys.stderr.flush()


def _cmake_build(build, target):
    """Configures (with the default preset when `build` is build/default) and builds `target`."""
    cmds = []
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        if os.path.abspath(build) != os.path.join(TOP, "build", "default"):
            return "no CMake build in %s (configure it first)" % build
        cmds.append(["cmake", "--preset", "default"])
    cmds.append(["cmake", "--build", build, "--target", target])
    for cmd in cmds:
        _log("running: %s" % " ".join(cmd))
        p = subprocess.run(cmd, cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        if p.returncode != 0:
            tail = "\n".join(p.stdout.decode("utf-8", "replace").strip().splitlines()[-6:])
            return "`%s` failed:\n%s" % (" ".join(cmd), tail)
    return None


def ensure_child(explicit=None, allow_build=True):
    """Path of loopcheck-child; builds it with CMake, or compiles the single C file directly."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise SystemExit("conform: --child %s is not an executable" % explicit)
        return os.path.abspath(explicit)
    path = child_in(build_dir())
    if os.access(path, os.X_OK):
        return path
    if not allow_build:
        raise SystemExit("conform: %s is missing (build target %s)" % (path, CHILD_TARGET))
    problem = _cmake_build(build_dir(), CHILD_TARGET)
    if problem is None and os.access(path, os.X_OK):
        return path
    # The child is one C file: a CMake problem elsewhere must not stop CPython runs.
    fallback = os.path.join(TOP, "build", "conform-child", CHILD_TARGET)
    os.makedirs(os.path.dirname(fallback), exist_ok=True)
    if problem:
        _log("CMake build of %s failed; compiling it directly (%s)" % (CHILD_TARGET, problem.splitlines()[0]))
    p = subprocess.run(["cc", "-O2", "-Wall", "-o", fallback, CHILD_SOURCE], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SystemExit("conform: cannot build %s: %s" % (CHILD_TARGET, p.stdout.decode()))
    return fallback


def ensure_ref_driver(explicit=None, allow_build=True):
    """(path, None) or (None, what is missing)."""
    if explicit:
        if os.access(explicit, os.X_OK):
            return os.path.abspath(explicit), None
        return None, "--ref-driver %s is not an executable" % explicit
    path = ref_driver_in(build_dir())
    if os.access(path, os.X_OK):
        return path, None
    if not allow_build:
        return None, "%s is missing (build target %s)" % (path, REF_TARGET)
    problem = _cmake_build(build_dir(), REF_TARGET)
    if problem is None and os.access(path, os.X_OK):
        return path, None
    return None, "the ref driver %s could not be built: %s" % (path, problem or "target produced no binary")
