#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cli_help.py - what `sealmount --help` says, as data: the man page and the drift check.

  cli_help.py man SEALMOUNT OUT.1 VERSION
      write the man page: the text of `sealmount --help`, of every `sealmount COMMAND --help`
      and of every `sealmount COMMAND SUBCOMMAND --help`, verbatim (one source of truth).
  cli_help.py check SEALMOUNT COMPLETION MANPAGE
      fail (exit 1, naming each gap) when a command, subcommand or option in --help is missing
      from the man page or is not offered by the bash completion (run for real in bash), or
      when a subcommand's --help is not its own.
  cli_help.py table SEALMOUNT
      print the commands, subcommands and options found (for writing the completion).

Commands come from the "Commands:" list of `sealmount --help`; a command's subcommands from the
lines "sealmount COMMAND SUB" of its help; options are the --long (and -x) options of the
usage block (up to the first blank line) and of the option lines (indented, starting with -).
"""
import re
import subprocess
import sys

# Groups whose subcommands still share one help text (reported, not failed): none left.
SHARED_HELP = set()


def help_of(exe, *args):
    p = subprocess.run([exe, *args, "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"`sealmount {' '.join(args)} --help` exited {p.returncode}: {p.stderr}")
    return p.stdout


def commands(main_help):
    out, inside = [], False
    for line in main_help.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
            if not m:
                break
            out.append(m.group(1))
    return out


def subcommands(cmd, text):
    subs = []
    for m in re.finditer(rf"sealmount {re.escape(cmd)} ([a-z][a-z0-9-]*)\b", text):
        if m.group(1) not in subs:
            subs.append(m.group(1))
    return subs


def options(text):
    opts = set()
    usage = text.split("\n\n", 1)[0]
    opts.update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?=[\s\[\]|=,)]|$)", usage))
    for line in text.splitlines():
        m = re.match(r"^\s{1,8}((?:-[a-zA-Z], )?--?[a-z][a-z0-9-]*)", line)
        if m:
            opts.update(re.findall(r"--?[a-zA-Z][a-z0-9-]*", m.group(1)))
    return sorted(o for o in opts if o != "-")


def tree(exe):
    main = help_of(exe)
    t = {"": {"help": main, "options": options(main.split("Global options:", 1)[-1])}}
    for c in commands(main):
        text = help_of(exe, c)
        subs = subcommands(c, text)
        t[c] = {"help": text, "subs": subs, "options": options(text)}
        for s in subs:
            st = help_of(exe, c, s)
            t[f"{c} {s}"] = {"help": st, "options": options(st)}
    return t


def roff(text):
    lines = []
    for line in text.rstrip("\n").splitlines():
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def man(exe, out, version):
    t = tree(exe)
    parts = [
        f'.TH SEALMOUNT 1 "" "sealmount {version}" "User Commands"',
        ".SH NAME",
        "sealmount \\- mount an encrypted remote disk image after SEV-SNP attestation",
        ".SH SYNOPSIS",
        ".B sealmount",
        "[\\-\\-log\\-level LEVEL] [\\-\\-log\\-json] COMMAND [SUBCOMMAND] [OPTIONS]",
        ".SH DESCRIPTION",
        "The text of each section is what the command prints for \\-\\-help.",
        ".PP", ".nf", roff(t[""]["help"]), ".fi",
        ".SH COMMANDS",
    ]
    for key, v in t.items():
        if not key:
            continue
        parts += [f".SS sealmount {key}", ".nf", roff(v["help"]), ".fi"]
    parts += [".SH SEE ALSO", "The README of the sealmount sources.", ""]
    with open(out, "w") as f:
        f.write("\n".join(parts))


def completion_words(completion, words):
    """What the bash completion offers after `words` (the last one being completed)."""
    script = (f"source {completion!r}\n"
              "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
              "_sealmount sealmount \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"the completion failed for {words}: {p.stderr}")
    return set(p.stdout.split())


def check(exe, completion, manpage):
    t = tree(exe)
    page = open(manpage).read().replace("\\-", "-").replace("\\e", "\\")
    bad = []
    top = completion_words(completion, ["sealmount", ""])
    for key, v in t.items():
        words = key.split()
        if words and words[-1] not in (top if len(words) == 1 else
                                       completion_words(completion, ["sealmount", words[0], ""])):
            bad.append(f"completion: `sealmount {' '.join(words[:-1])}` does not offer '{words[-1]}'")
        if key and f"\n.SS sealmount {key}\n" not in page:
            bad.append(f"man page: no section for `sealmount {key}`")
        if v["help"].rstrip() not in page:
            bad.append(f"man page: the --help text of `sealmount {key}` differs or is missing")
        # A group's options are its subcommands' (checked there).
        opts = [] if v.get("subs") else v["options"]
        offered = completion_words(completion, ["sealmount", *words, "-"]) if opts else set()
        for o in opts:
            if o not in offered:
                bad.append(f"completion: `sealmount {key} -<TAB>` does not offer {o}")
            if o not in page:
                bad.append(f"man page: {o} of `sealmount {key}` missing")
        if len(words) == 2 and words[0] not in SHARED_HELP:
            first = v["help"].splitlines()[0] if v["help"] else ""
            if not first.startswith(f"Usage: sealmount {key}"):
                bad.append(f"help: `sealmount {key} --help` starts '{first}', not its own usage")
            for other in t[words[0]]["subs"]:
                if other != words[1] and re.search(
                        rf"^\s*(Usage: )?sealmount {words[0]} {other}\b", v["help"], re.M):
                    bad.append(f"help: `sealmount {key} --help` also shows `{words[0]} {other}`")
    for g in sorted(SHARED_HELP & set(t)):
        print(f"note: `sealmount {g} SUB --help` still shows the whole group (not checked)")
    n_opts = sum(len(v["options"]) for v in t.values())
    print(f"checked {len(t) - 1} commands and subcommands, {n_opts} options")
    for b in bad:
        print("DRIFT: " + b)
    return 1 if bad else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "man":
        return man(argv[2], argv[3], argv[4])
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4])
    if len(argv) == 3 and argv[1] == "table":
        for key, v in tree(argv[2]).items():
            print(f"[{key}] subs={' '.join(v.get('subs', []))} opts={' '.join(v['options'])}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
