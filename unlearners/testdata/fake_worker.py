"""A worker without torch for the protocol tests: it copies the original
model to UNLEARNBENCH_OUT, except on the first member any of its processes
serves (the marker file not yet there), where it misbehaves as argv[1]
says."""
import json
import os
import shutil
import sys
import time

mode, marker = sys.argv[1], sys.argv[2]


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


say({"ready": True})
for line in sys.stdin:
    req = json.loads(line)
    env, member = req["env"], req["member"]
    # O_EXCL: of several processes serving at once, exactly one claims
    # the first member (two that looked for the marker and then made it
    # could both misbehave).
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        bad = True
    except FileExistsError:
        bad = False
    if bad:
        sys.stderr.write("misbehaving: %s\n" % mode)
        sys.stderr.flush()
        if mode == "garbage":
            say("not an answer")
            continue
        if mode == "other-member":
            say({"member": "someone-else", "ok": True})
            continue
        if mode == "exit":
            os._exit(4)
        if mode == "hang":
            time.sleep(60)
        if mode == "shape":
            shutil.copy(sys.argv[3], env["UNLEARNBENCH_OUT"])
            say({"member": member, "ok": True})
            continue
        if mode == "fail":
            say({"member": member, "ok": False, "error": "ValueError: lr must be positive"})
            continue
    shutil.copy(env["UNLEARNBENCH_MODEL"], env["UNLEARNBENCH_OUT"])
    say({"member": member, "ok": True})
