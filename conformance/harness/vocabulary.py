"""The closed vocabulary of scenario steps.

Each entry names a step, the area it belongs to and a one-line signature used in
error messages and in the README cheat-sheet. Object methods (`T.write 5`) are
listed by method name under the kind of object they apply to.
"""

# op -> (area, signature)
STEPS = {
    # loop scheduling
    "call_soon": ("loop", "call_soon CB"),
    "call_soon_threadsafe": ("loop", "call_soon_threadsafe CB [from=thread]"),
    "call_later": ("loop", "call_later DELAY CB"),
    "call_at": ("loop", "call_at WHEN CB            (WHEN is seconds after the scenario's t0)"),
    "cancel": ("loop", "cancel CB"),
    "on": ("loop", "on TARGET: STEP; STEP ...   (actions run when TARGET's event is recorded)"),
    "run_once": ("loop", "run_once [N]"),
    "run_for": ("loop", "run_for SECONDS"),
    "run_until": ("loop", "run_until \"EVENT-GLOB\" [timeout=S]"),
    "run_forever": ("loop", "run_forever [timeout=S]"),
    "stop": ("loop", "stop"),
    "close": ("loop", "close"),
    "is_running": ("loop", "is_running"),
    "is_closed": ("loop", "is_closed"),
    "get_debug": ("loop", "get_debug"),
    "set_debug": ("loop", "set_debug BOOL"),
    "block": ("loop", "block SECONDS              (busy-blocks the loop thread)"),
    "raise": ("loop", "raise EXCTYPE [\"MESSAGE\"]"),
    "set_exception_handler": ("loop", "set_exception_handler record|default|raising|VALUE"),
    "call_exception_handler": ("loop", "call_exception_handler \"MESSAGE\" [KEY=VALUE ...]"),
    "loop_call": ("loop", "loop_call METHOD ARG... [from=thread]  (names are callbacks, @coroutine, numbers, none)"),
    "call_soon_threadsafe_later": ("loop", "call_soon_threadsafe_later DELAY CB  (from a helper thread, not joined)"),
    "call_soon_threadsafe_many": ("loop", "call_soon_threadsafe_many N CB  (N calls from a helper thread)"),
    "call_exception_handler_unreprable": ("loop", "call_exception_handler_unreprable \"MESSAGE\"  (context value whose repr raises)"),
    "call_soon_function": ("loop", "call_soon_function CB [ARG ...]  (a plain function at prog.py:2, scheduled at prog.py:7)"),
    "slow_callback_duration": ("loop", "slow_callback_duration SECONDS"),
    "handle_repr": ("loop", "handle_repr CB"),
    "handle_when": ("loop", "handle_when CB             (handle type, deadline in whole seconds after t0)"),
    "loop_repr": ("loop", "loop_repr"),
    "time": ("loop", "time                       (the type of loop.time())"),
    "loop_is_instance": ("loop", "loop_is_instance ASYNCIO-CLASS"),
    "new_loop": ("loop", "new_loop L"),
    "run_until_complete": ("loop", "run_until_complete F|VALUE [loop=L]"),
    "cancel_from_thread": ("loop", "cancel_from_thread CB"),
    "get_event_loop_policy": ("loop", "get_event_loop_policy      (the policy's class name)"),
    "set_event_loop": ("loop", "set_event_loop loop|L|none"),
    "get_event_loop": ("loop", "get_event_loop [fresh=true]"),
    "future": ("loop", "future F [loop=L]"),
    "forget": ("loop", "forget NAME                (drop the driver's reference)"),
    "gc_collect": ("loop", "gc_collect"),
    "set_var": ("loop", "set_var VALUE              (a ContextVar in the current context)"),
    "get_var": ("loop", "get_var"),
    "debug_log": ("loop", "debug_log [start|warnings] (asyncio logger records; durations as #.###)"),
    # signals
    "add_signal_handler": ("signals", "add_signal_handler SIG CB|@coroutine [ARG ...] [from=thread] [loop=L]"),
    "remove_signal_handler": ("signals", "remove_signal_handler SIG [from=thread] [loop=L]"),
    "kill": ("signals", "kill self|thread|process SIG [count=N]"),
    "signal_disposition": ("signals", "signal_disposition SIG"),
    "cancel_signal_handle": ("signals", "cancel_signal_handle SIG"),
    "signal_wakeup_fd": ("signals", "signal_wakeup_fd           (set or unset)"),
    "signal_restarts": ("signals", "signal_restarts SIG          (True when the OS action has SA_RESTART)"),
    "fork_child_state": ("signals", "fork_child_state            (a forked child: running loop? wakeup fd?)"),
    "deliver_pending": ("signals", "deliver_pending SIG ...     (sent to the blocked loop thread, then unblocked at once)"),
    # fds
    "pipe": ("fds", "pipe R W [size=N]           (size: F_SETPIPE_SZ capacity)"),
    "socketpair": ("fds", "socketpair A B"),
    "regular_file": ("fds", "regular_file F [size=N] [mode=\"rb\"]"),
    "devnull": ("fds", "devnull F [mode=r|w]"),
    "pty": ("fds", "pty MASTER SLAVE"),
    "write_fd": ("fds", "write_fd FD N|\"TEXT\""),
    "read_fd": ("fds", "read_fd FD N"),
    "close_fd": ("fds", "close_fd FD"),
    "add_reader": ("fds", "add_reader FD CB"),
    "remove_reader": ("fds", "remove_reader FD"),
    "add_writer": ("fds", "add_writer FD CB"),
    "remove_writer": ("fds", "remove_writer FD"),
    "get_blocking": ("fds", "get_blocking FD"),
    "sink": ("fds", "sink FD                    (background reader that drains FD silently)"),
    "received": ("fds", "received FD                (bytes drained by sink so far)"),
    # pipe transports
    "connect_read_pipe": ("read_pipe", "connect_read_pipe T FD [eof_received=BOOL]  (T is bound at connection_made)"),
    "connect_write_pipe": ("write_pipe", "connect_write_pipe T FD"),
    # subprocess
    "subprocess_exec": ("subprocess", "subprocess_exec P child MODE... [stdin=] [stdout=] [stderr=]"),
    "create_subprocess_exec": ("subprocess", "create_subprocess_exec P child MODE... [stdin=] [stdout=] [stderr=]"),
    "spawn": ("subprocess", "spawn C child MODE...      (plain fork/exec, outside the loop)"),
    "await_exit": ("subprocess", "await_exit C               (blocks until C is a zombie, without reaping)"),
    "reap": ("subprocess", "reap C                     (waitpid outside the loop)"),
    "await_reaped": ("subprocess", "await_reaped C             (blocks until someone else has reaped C)"),
    "subprocess_shell": ("subprocess", "subprocess_shell P \"CMD\"|child MODE... [stdin=] [stdout=] [stderr=]"),
    # child watchers (CPython 3.9 - 3.13 API)
    "set_child_watcher": ("watchers", "set_child_watcher safe|fast|multiloop|threaded|pidfd|none"),
    "get_child_watcher": ("watchers", "get_child_watcher"),
    "new_child_watcher": ("watchers", "new_child_watcher W KIND   (not installed; KIND also abstract|base)"),
    "waitpid_threads": ("watchers", "waitpid_threads            (names of the threaded watcher's threads)"),
    # unix sockets
    "socket": ("unix_sockets", "socket S [family=unix|inet] [type=stream|dgram] [bind=PATH] [nonblock=BOOL] [ssl=BOOL]"),
    "stale_socket": ("unix_sockets", "stale_socket PATH"),
    "path_exists": ("unix_sockets", "path_exists PATH"),
    "create_unix_server": ("unix_sockets", "create_unix_server S [path=PATH] [pathlib=BOOL] [sock=S] [start_serving=BOOL] [ssl=BOOL|server] [ssl_handshake_timeout=N] [ssl_shutdown_timeout=N]"),
    "create_unix_connection": ("unix_sockets", "create_unix_connection C [path=PATH] [pathlib=BOOL] [sock=S] [server_hostname=\"H\"|N] [ssl=BOOL|client] [ssl_handshake_timeout=N] [ssl_shutdown_timeout=N]"),
    # sendfile
    "sock_sendfile": ("sendfile", "sock_sendfile SOCK FILE [offset=N] [count=N] [fallback=BOOL] [blocking=BOOL] [task=NAME]"),
    "sendfile": ("sendfile", "sendfile T FILE [offset=N] [count=N] [fallback=BOOL]"),
    "memory_file": ("sendfile", "memory_file F [size=N]      (an io.BytesIO: no fileno)"),
    "fd_limit": ("unix_sockets", "fd_limit exhausted|restored (next new fd fails with EMFILE)"),
    # interpreter shutdown
    "close_at_shutdown": ("signals", "close_at_shutdown [SIG ...]  (a forked child closes the loop while its interpreter finalizes; reports warnings, SIG dispositions, wakeup fd)"),
    # injected OS failures
    "fail": ("faults", "fail sigaction|sendfile|kill|write|read|waitpid ERRNO [count=N] [after=M]"),
}

# method -> signature; applies to `NAME.method` steps on the object NAME names.
METHODS = {
    # transports (pipe, subprocess, socket) and servers
    "close": "X.close",
    "abort": "T.abort",
    "is_closing": "T.is_closing",
    "pause_reading": "T.pause_reading",
    "resume_reading": "T.resume_reading",
    "is_reading": "T.is_reading",
    "write": "T.write N|\"TEXT\" [kind=bytes|str|int|strided]",
    "repr": "T.repr",
    "writelines": "T.writelines N|\"TEXT\" ...",
    "write_eof": "T.write_eof",
    "can_write_eof": "T.can_write_eof",
    "get_write_buffer_size": "T.get_write_buffer_size",
    "get_write_buffer_limits": "T.get_write_buffer_limits",
    "set_write_buffer_limits": "T.set_write_buffer_limits [high=N] [low=N]",
    "get_protocol": "T.get_protocol",
    "get_extra_info": "T.get_extra_info \"KEY\"",
    "set_protocol": "T.set_protocol P           (a new recording protocol named P)",
    # subprocess transport / Process
    "send_signal": "P.send_signal SIG",
    "terminate": "P.terminate",
    "kill": "P.kill",
    "get_returncode": "P.get_returncode",
    "get_pid": "P.get_pid",
    "get_pipe_transport": "P.get_pipe_transport FD",
    "wait": "P.wait [task=NAME]",
    "communicate": "P.communicate [N|\"TEXT\"]",
    "returncode": "P.returncode",
    "streams": "P.streams                  (Process: which of stdin/stdout/stderr exist)",
    "popen": "P.popen                    (get_extra_info('subprocess'))",
    "fd_kind": "T.fd_kind                  (fifo, socket or other: what the pipe transport's fd is)",
    "write_and_drain": "P.write_and_drain N|\"TEXT\"   (Process: stdin.write, then await stdin.drain())",
    # child watcher (the object is named `watcher`)
    "add_child_handler": "watcher.add_child_handler C CB|NUMBER",
    "remove_child_handler": "watcher.remove_child_handler C",
    "attach_loop": "watcher.attach_loop loop|none|L|VALUE [from=thread]",
    "is_active": "watcher.is_active",
    "enter": "watcher.enter",
    "exit": "watcher.exit",
    "do_waitpid": "watcher.do_waitpid C",
    "do_waitpid_all": "watcher.do_waitpid_all",
    # servers
    "is_serving": "S.is_serving",
    "wait_closed": "S.wait_closed",
    "start_serving": "S.start_serving",
    "sockname": "S.sockname",
    "connect": "S.connect PATH              (a plain connect of a socket made by `socket`)",
    # files
    "tell": "F.tell",
    # futures
    "set_result": "F.set_result [VALUE]",
    "set_exception": "F.set_exception EXCTYPE [\"MESSAGE\"]",
    "add_done_callback": "F.add_done_callback CB",
    "result": "F.result",
    "exception": "F.exception",
    "done": "F.done",
    "cancelled": "F.cancelled",
    "cancel": "F.cancel",
}

AREAS = ("loop", "signals", "fds", "read_pipe", "write_pipe", "subprocess", "watchers",
         "unix_sockets", "sendfile")

# Header keys a scenario may carry; `description` is required.
HEADER_KEYS = ("description", "pins", "requires", "features", "nondeterministic", "timeout", "info")


def is_known(op):
    """True when `op` is a step name or an `OBJECT.method` call of a known method."""
    if op in STEPS:
        return True
    if "." in op:
        obj, _, method = op.rpartition(".")
        return bool(obj) and method in METHODS
    return False


def features():
    """The closed list of feature tags (conformance/features.txt)."""
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "features.txt")
    tags = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word = line.split("#", 1)[0].strip()
            if word:
                tags.append(word)
    return tags
