#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""soak-workload.py - the workload of scripts/soak.sh (docs/soak.md).

  soak-workload.py run DIR OUT --until EPOCH [--workers N] [--files K] [--file-mb M] [--seed S]
  soak-workload.py check DIR OUT

run: N processes, each owning K files of M MiB in DIR (w<i>-f<k>), do random unaligned writes,
reads (buffered and O_DIRECT), fsyncs and page-cache drops until EPOCH. Each keeps two models of
its files: what it wrote (every read must return exactly that) and what an fsync acknowledged
(what must survive an unmount). A failed fsync makes the ranges written since the last good one
uncertain (an app cannot know what reached the disk). At the end each process fsyncs, writes
OUT/<file>.durable, OUT/<file>.uncertain (JSON ranges) and OUT/stats-w<i>.json (operation
counts, bytes, and every error the app saw with its time).

check: compare every file in DIR with OUT/<file>.durable outside its uncertain ranges; print
one line per file, exit 1 on any difference or missing file.
"""

import argparse
import errno
import json
import mmap
import os
import random
import sys
import time

SIZES = [1, 7, 512, 1000, 4096, 8192, 12345, 65536, 131072, 262144]


class Worker:
    def __init__(self, idx, args):
        self.idx = idx
        self.args = args
        self.rnd = random.Random(args.seed * 1000 + idx)
        self.size = args.file_mb << 20
        self.files = []
        self.stats = {"worker": idx, "write": 0, "read": 0, "direct_read": 0, "fsync": 0,
                      "drop": 0, "bytes_written": 0, "bytes_read": 0, "errors": []}
        self.dbuf = mmap.mmap(-1, 1 << 20)  # page aligned, for O_DIRECT

    def error(self, op, name, e, detail=""):
        self.stats["errors"].append({"t": time.time(), "op": op, "file": name,
                                     "errno": getattr(e, "errno", None) or 0,
                                     "msg": f"{e}{detail}"})

    def setup(self):
        for k in range(self.args.files):
            name = f"w{self.idx}-f{k}"
            path = os.path.join(self.args.dir, name)
            data = bytearray(self.rnd.randbytes(self.size))
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            self.files.append({"name": name, "fd": fd, "dfd": dfd, "cur": data,
                               "durable": bytearray(data), "dirty": [], "uncertain": []})

    def op_write(self, f):
        n = min(self.rnd.choice(SIZES) + self.rnd.randrange(0, 64), self.size)
        off = self.rnd.randrange(0, self.size - n + 1)
        data = self.rnd.randbytes(n)
        try:
            done = os.pwrite(f["fd"], data, off)
        except OSError as e:
            self.error("write", f["name"], e)
            f["uncertain"].append((off, n))
            return
        if done != n:
            self.error("write", f["name"], OSError(errno.EIO, "short write"), f" {done}/{n}")
        f["cur"][off:off + n] = data
        f["dirty"].append((off, n))
        self.stats["write"] += 1
        self.stats["bytes_written"] += n

    def compare(self, f, op, got, off, n):
        want = bytes(f["cur"][off:off + n])
        if got != want:
            bad = next((i for i in range(min(len(got), n)) if got[i] != want[i]), min(len(got), n))
            self.error(op, f["name"], OSError(errno.EILSEQ, "wrong bytes"),
                       f" at {off + bad} (read {len(got)}/{n} at {off})")
            return
        self.stats[op] += 1
        self.stats["bytes_read"] += n

    def op_read(self, f):
        n = min(self.rnd.choice(SIZES) + self.rnd.randrange(0, 64), self.size)
        off = self.rnd.randrange(0, self.size - n + 1)
        try:
            got = os.pread(f["fd"], n, off)
        except OSError as e:
            self.error("read", f["name"], e)
            return
        self.compare(f, "read", got, off, n)

    def op_direct_read(self, f):
        n = 4096 * self.rnd.randrange(1, 65)
        off = 4096 * self.rnd.randrange(0, (self.size - n) // 4096 + 1)
        try:
            got = os.preadv(f["dfd"], [memoryview(self.dbuf)[:n]], off)
        except OSError as e:
            self.error("direct_read", f["name"], e)
            return
        self.compare(f, "direct_read", bytes(self.dbuf[:got]), off, n)

    def op_fsync(self, f, drop):
        try:
            os.fsync(f["fd"])
        except OSError as e:
            self.error("fsync", f["name"], e)
            f["uncertain"].extend(f["dirty"])
            f["dirty"] = []
            return
        for off, n in f["dirty"]:
            f["durable"][off:off + n] = f["cur"][off:off + n]
        f["dirty"] = []
        self.stats["fsync"] += 1
        if drop:
            # Clean pages only: the next reads go down to the mount (and the blob behind it).
            os.posix_fadvise(f["fd"], 0, 0, os.POSIX_FADV_DONTNEED)
            self.stats["drop"] += 1

    def run(self):
        self.setup()
        while time.time() < self.args.until:
            f = self.rnd.choice(self.files)
            x = self.rnd.random()
            if x < 0.45:
                self.op_write(f)
            elif x < 0.80:
                self.op_read(f)
            elif x < 0.90:
                self.op_direct_read(f)
            else:
                self.op_fsync(f, self.rnd.random() < 0.5)
        for f in self.files:
            self.op_fsync(f, False)
        out = self.args.out
        for f in self.files:
            with open(os.path.join(out, f["name"] + ".durable"), "wb") as o:
                o.write(f["durable"])
            with open(os.path.join(out, f["name"] + ".uncertain"), "w") as o:
                json.dump(f["uncertain"], o)
            os.close(f["fd"])
            os.close(f["dfd"])
        with open(os.path.join(out, f"stats-w{self.idx}.json"), "w") as o:
            json.dump(self.stats, o)


def run(args):
    pids = []
    for i in range(args.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                Worker(i, args).run()
            except BaseException as e:  # a worker that dies is a finding: say why
                print(f"soak-workload: worker {i}: {e!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        pids.append(pid)
    rc = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        rc |= os.waitstatus_to_exitcode(status) != 0
    return rc


def check(args):
    rc = 0
    names = sorted(n[:-len(".durable")] for n in os.listdir(args.out) if n.endswith(".durable"))
    if not names:
        print("check: no models in", args.out)
        return 1
    for name in names:
        with open(os.path.join(args.out, name + ".durable"), "rb") as o:
            want = o.read()
        with open(os.path.join(args.out, name + ".uncertain")) as o:
            uncertain = json.load(o)
        try:
            with open(os.path.join(args.dir, name), "rb") as o:
                got = bytearray(o.read())
        except OSError as e:
            print(f"check: {name}: {e}")
            rc = 1
            continue
        want = bytearray(want)
        skipped = 0
        for off, n in uncertain:
            got[off:off + n] = want[off:off + n]
            skipped += n
        if len(got) != len(want):
            print(f"check: {name}: size {len(got)}, expected {len(want)}")
            rc = 1
        elif got != want:
            diff = [i for i in range(len(want)) if got[i] != want[i]]
            print(f"check: {name}: {len(diff)} bytes differ, first at {diff[0]}, last at {diff[-1]}")
            rc = 1
        else:
            print(f"check: {name}: {len(want)} bytes as fsync'd"
                  + (f" ({skipped} uncertain bytes skipped)" if skipped else ""))
    return rc


def main():
    p = argparse.ArgumentParser(description="workload of scripts/soak.sh")
    p.add_argument("mode", choices=["run", "check"])
    p.add_argument("dir")
    p.add_argument("out")
    p.add_argument("--until", type=float, default=0)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--files", type=int, default=2)
    p.add_argument("--file-mb", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    sys.exit(run(args) if args.mode == "run" else check(args))


if __name__ == "__main__":
    main()
