"""Runs an unlearning function for unlearnbench's exec method, one member
per process or, in worker mode, many members per process.

The worker protocol (unlearners/exec_protocol.go is the other side): the
process is started with UNLEARNBENCH_WORKER=1 and reads one JSON object a
line on stdin, a member:

    {"member": "7", "seed": 123, "env": {"UNLEARNBENCH_SEED": "123", ...},
     "stdout": "/path/seed-123.stdout", "stderr": "/path/seed-123.stderr"}

env holds every UNLEARNBENCH_* variable of the member; stdout and stderr
are files where the member's own output goes. Once ready (imports done) it
writes {"ready": true, ...} on stdout, and after each member one line,
{"member": "7", "ok": true} or {"member": "7", "ok": false, "error": "..."}.
It exits when stdin ends. Nothing else may be written on stdout: the
program's own prints go to stderr (fd 1 is pointed there), so they cannot
corrupt the channel.
"""

import json
import os
import sys
import time
import traceback

import torch

from .member import Member, seed_everything

_threads_set = False


def run_member(unlearn, env):
    """One member: seed, load, unlearn, save."""
    global _threads_set
    m = Member(env)
    if not _threads_set:
        torch.set_num_threads(max(1, m.threads))
        _threads_set = True
    seed_everything(m.seed)
    model = m.load_model()
    out = unlearn(model, m, m.seed)
    m.save(model if out is None else out)


def main(unlearn):
    """Runs unlearn(model, member, seed) for the member unlearnbench gives:
    one in the environment, or, with UNLEARNBENCH_WORKER=1, one per line
    of stdin (serve). unlearn trains model (the original, a torch module)
    with member's data (member.retain, member.forget, member.validation,
    member.loader(...)) and returns the unlearned model (or None: model
    itself)."""
    if os.environ.get("UNLEARNBENCH_WORKER") == "1":
        serve(unlearn)
    else:
        run_member(unlearn, os.environ)


def _redirect(fd, path):
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(f, fd)
    os.close(f)


def serve(unlearn, stdin=None):
    """Serves members over the protocol above until stdin ends."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    saved_err = os.dup(2)
    # fd 1 now goes to stderr between members and to the member's stdout
    # file during one: the program's prints never reach the channel.
    os.dup2(2, 1)
    stdin = stdin or sys.stdin
    channel.write(json.dumps({"ready": True, "pid": os.getpid(), "python": sys.executable,
                              "torch": torch.__version__}) + "\n")
    base_env = dict(os.environ)
    for line in stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            mid = req["member"]
        except (ValueError, KeyError, TypeError) as e:
            channel.write(json.dumps({"ok": False, "error": "bad request: %s" % e}) + "\n")
            continue
        reply = {"member": mid, "ok": True}
        t0 = time.time()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _redirect(1, req.get("stdout") or os.devnull)
            _redirect(2, req.get("stderr") or os.devnull)
            env = dict(base_env)
            env.update(req.get("env", {}))
            os.environ.clear()
            os.environ.update(env)
            run_member(unlearn, env)
        except Exception as e:  # the member fails, the worker goes on
            traceback.print_exc()
            msg = "%s: %s" % (type(e).__name__, e)
            reply = {"member": mid, "ok": False, "error": " ".join(msg.split())[:2000]}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_err, 2)
            os.dup2(saved_err, 1)
        reply["seconds"] = time.time() - t0
        channel.write(json.dumps(reply) + "\n")
