#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""swap_names.py DIR NAME OTHER SECONDS STARTED - what a hostile app container sharing the
emptyDir can do: exchange DIR/NAME and DIR/OTHER with renameat2(RENAME_EXCHANGE) as fast as it
can, for SECONDS or until SIGTERM. Creates the file STARTED once it is exchanging, and prints how
many exchanges succeeded and how many were refused when it stops. For test-publish-race.sh."""
import ctypes
import os
import signal
import sys
import time

SYS_RENAMEAT2 = 316  # x86_64
RENAME_EXCHANGE = 2
AT_FDCWD = -100

libc = ctypes.CDLL(None, use_errno=True)


stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main():
    d, name, other, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    a = os.path.join(d, name).encode()
    b = os.path.join(d, other).encode()
    done = refused = 0
    signal.signal(signal.SIGTERM, on_term)
    end = time.monotonic() + seconds
    started = False
    while not stop and time.monotonic() < end:
        for _ in range(50):
            if libc.syscall(SYS_RENAMEAT2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
                done += 1
            else:
                refused += 1
        if not started:
            open(sys.argv[5], "w").close()
            started = True
    print(f"{done} exchanged, {refused} refused")


if __name__ == "__main__":
    main()
