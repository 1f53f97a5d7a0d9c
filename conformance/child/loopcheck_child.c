/* loopcheck-child: the one program every conformance driver spawns.
 *
 * Its arguments are a list of modes run left to right, so all implementations see
 * identical children:
 *
 *   exit N                 _exit(N)
 *   die SIG                restore SIG's default action and raise it
 *   sleep SECONDS          sleep (fractions allowed), resuming after signals
 *   pause                  wait until a signal kills the process
 *   echo                   copy stdin to stdout until EOF
 *   drain                  read stdin until EOF, discarding it
 *   count-stdin            read stdin until EOF, then print the byte count to stdout
 *   write N stdout|stderr  write N bytes of the pattern 'a'..'z' repeated
 *   print TEXT stdout|stderr   write TEXT as given
 *   close stdin|stdout|stderr  close one standard stream
 *   close-stdio            close all three
 *   ignore SIG             set SIG to SIG_IGN (inherited across exec)
 *   default SIG            set SIG to SIG_DFL
 *   kill PID SIG COUNT     send SIG to PID COUNT times
 *   kill-parent SIG COUNT  send SIG to the parent process COUNT times
 *   fork-grandchild MODES... --   fork; the grandchild runs MODES then exits 0,
 *                                 the child continues after `--`
 *   session                print "leader" or "member" to stdout: is it a session leader?
 *   cwd                    print the last component of the working directory to stdout
 * Running out of modes exits 0. A bad argument exits 120 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct { const char *name; int number; } signal_names[] = {
    {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
    {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS},   {"SIGFPE", SIGFPE},   {"SIGKILL", SIGKILL},
    {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE},
    {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},
    {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP}, {"SIGWINCH", SIGWINCH},
};

static void usage_error(const char *what, const char *arg) {
    fprintf(stderr, "loopcheck-child: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    _exit(120);
}

static const char *need(int argc, char **argv, int i, const char *mode) {
    if (i >= argc) usage_error("missing argument for mode", mode);
    return argv[i];
}

static long parse_long(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) usage_error("not an integer", s);
    return v;
}

static int parse_signal(const char *s) {
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; ++i)
        if (strcmp(s, signal_names[i].name) == 0) return signal_names[i].number;
    return (int)parse_long(s);
}

static int parse_stream(const char *s) {
    if (strcmp(s, "stdin") == 0) return 0;
    if (strcmp(s, "stdout") == 0) return 1;
    if (strcmp(s, "stderr") == 0) return 2;
    usage_error("expected stdin, stdout or stderr", s);
    return -1;
}

/* Writes everything, retrying after short writes and EINTR; a dead reader ends the write. */
static void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += w;
        n -= (size_t)w;
    }
}

static void write_pattern(int fd, long n) {
    char block[4096];
    for (size_t i = 0; i < sizeof block; ++i) block[i] = (char)('a' + i % 26);
    while (n > 0) {
        size_t chunk = n < (long)sizeof block ? (size_t)n : sizeof block;
        write_all(fd, block, chunk);
        n -= (long)chunk;
    }
}

/* Reads stdin to EOF; copies to `out` when out >= 0; returns the byte count. */
static long read_stdin(int out) {
    char buf[65536];
    long total = 0;
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return total;
        total += r;
        if (out >= 0) write_all(out, buf, (size_t)r);
    }
}

static void sleep_seconds(double seconds) {
    struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
}

static int skip_past_separator(int argc, char **argv, int i) {
    while (i < argc && strcmp(argv[i], "--") != 0) ++i;
    if (i >= argc) usage_error("fork-grandchild needs a closing --", NULL);
    return i + 1;
}

static void run(int argc, char **argv, int i) {
    while (i < argc) {
        const char *mode = argv[i++];
        if (strcmp(mode, "exit") == 0) {
            _exit((int)parse_long(need(argc, argv, i, mode)));
        } else if (strcmp(mode, "die") == 0) {
            int sig = parse_signal(need(argc, argv, i++, mode));
            signal(sig, SIG_DFL);
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, sig);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            raise(sig);
            usage_error("signal did not kill the process", argv[i - 1]);
        } else if (strcmp(mode, "sleep") == 0) {
            sleep_seconds(atof(need(argc, argv, i++, mode)));
        } else if (strcmp(mode, "pause") == 0) {
            for (;;) pause();
        } else if (strcmp(mode, "echo") == 0) {
            read_stdin(1);
        } else if (strcmp(mode, "drain") == 0) {
            read_stdin(-1);
        } else if (strcmp(mode, "count-stdin") == 0) {
            char text[32];
            int n = snprintf(text, sizeof text, "%ld\n", read_stdin(-1));
            write_all(1, text, (size_t)n);
        } else if (strcmp(mode, "write") == 0) {
            long n = parse_long(need(argc, argv, i++, mode));
            write_pattern(parse_stream(need(argc, argv, i++, mode)), n);
        } else if (strcmp(mode, "print") == 0) {
            const char *text = need(argc, argv, i++, mode);
            write_all(parse_stream(need(argc, argv, i++, mode)), text, strlen(text));
        } else if (strcmp(mode, "close") == 0) {
            close(parse_stream(need(argc, argv, i++, mode)));
        } else if (strcmp(mode, "close-stdio") == 0) {
            close(0);
            close(1);
            close(2);
        } else if (strcmp(mode, "ignore") == 0) {
            signal(parse_signal(need(argc, argv, i++, mode)), SIG_IGN);
        } else if (strcmp(mode, "default") == 0) {
            signal(parse_signal(need(argc, argv, i++, mode)), SIG_DFL);
        } else if (strcmp(mode, "kill") == 0 || strcmp(mode, "kill-parent") == 0) {
            pid_t pid = strcmp(mode, "kill") == 0 ? (pid_t)parse_long(need(argc, argv, i++, mode)) : getppid();
            int sig = parse_signal(need(argc, argv, i++, mode));
            long count = parse_long(need(argc, argv, i++, mode));
            for (long k = 0; k < count; ++k) kill(pid, sig);
        } else if (strcmp(mode, "fork-grandchild") == 0) {
            pid_t pid = fork();
            if (pid < 0) usage_error("fork failed", strerror(errno));
            if (pid == 0) {
                int end = skip_past_separator(argc, argv, i) - 1;
                argv[end] = NULL;
                run(end, argv, i);
                _exit(0);
            }
            i = skip_past_separator(argc, argv, i);
        } else if (strcmp(mode, "session") == 0) {
            const char *text = getsid(0) == getpid() ? "leader\n" : "member\n";
            write_all(1, text, strlen(text));
        } else if (strcmp(mode, "cwd") == 0) {
            char path[4096];
            if (!getcwd(path, sizeof path)) usage_error("getcwd failed", strerror(errno));
            const char *base = strrchr(path, '/');
            base = base && base[1] ? base + 1 : path;
            write_all(1, base, strlen(base));
            write_all(1, "\n", 1);
        } else {
            usage_error("unknown mode", mode);
        }
    }
}

int main(int argc, char **argv) {
    run(argc, argv, 1);
    return 0;
}
