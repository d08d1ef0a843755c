package unlearners

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The worker protocol between the exec method (worker: true) and a
// process that serves many members, one after another. python/unlearnbench
// implements the process's side; a program in another language can too.
//
// The process is started once per population worker with the member
// variables of its first member and UNLEARNBENCH_WORKER=1. When its
// start-up is done it writes one line on stdout:
//
//	{"ready": true}
//
// (other keys are ignored). unlearnbench then writes one request a line
// on its stdin, waits for the answer, and so on; it closes stdin when the
// population is done, and the process exits. A request:
//
//	{"member": "3-5270398437004233713", "seed": 5270398437004233713,
//	 "env": {"UNLEARNBENCH_SEED": "5270398437004233713", "UNLEARNBENCH_OUT": "...", ...},
//	 "stdout": "/path/to/its/stdout", "stderr": "/path/to/its/stderr"}
//
// env holds every UNLEARNBENCH_* variable of the member (ExecVars); stdout
// and stderr are files the process should point its output to while it
// works on the member (append), so that a member's error quotes its own
// stderr. The answer, one line on stdout once the model is written to
// the member's UNLEARNBENCH_OUT:
//
//	{"member": "3-5270398437004233713", "ok": true}
//	{"member": "3-5270398437004233713", "ok": false, "error": "ValueError: ..."}
//
// An answer with ok false fails that member and the process serves the
// next. Anything else (a line that is not such an object, an answer for
// another member, the process exiting, no answer within timeout) fails
// the member too, and the process is killed (its process group) and a new
// one started for the remaining members, since its state is unknown.

// workerEnv marks a process started as a worker.
const workerEnv = "UNLEARNBENCH_WORKER"

// workerRequest is one member sent to a worker.
type workerRequest struct {
	Member string            `json:"member"`
	Seed   uint64            `json:"seed"`
	Env    map[string]string `json:"env"`
	Stdout string            `json:"stdout"`
	Stderr string            `json:"stderr"`
}

// workerReply is a worker's answer for one member, or its ready line.
type workerReply struct {
	Ready  bool    `json:"ready"`
	Member *string `json:"member"`
	OK     *bool   `json:"ok"`
	Error  string  `json:"error"`
}

// parseReady checks the first line a worker writes.
func parseReady(line string) error {
	var r workerReply
	if err := json.Unmarshal([]byte(line), &r); err != nil || !r.Ready {
		return fmt.Errorf("protocol error: want {\"ready\": true} as its first line on stdout, got %s", quoteLine(line))
	}
	return nil
}

// parseReply checks the answer to the request for member: nil when the
// member succeeded; a *memberFailed when the worker reports it failed (the
// worker stays usable); any other error is a protocol error.
func parseReply(line, member string) error {
	var r workerReply
	if err := json.Unmarshal([]byte(line), &r); err != nil || r.Member == nil || r.OK == nil {
		return fmt.Errorf("protocol error: want {\"member\": %q, \"ok\": ...} on stdout, got %s", member, quoteLine(line))
	}
	if *r.Member != member {
		return fmt.Errorf("protocol error: answered for member %q, was given %q", *r.Member, member)
	}
	if !*r.OK {
		msg := strings.Join(strings.Fields(r.Error), " ")
		if msg == "" {
			msg = "(no error message)"
		}
		return &memberFailed{msg: msg}
	}
	return nil
}

// memberFailed is a member the worker reported failed.
type memberFailed struct{ msg string }

func (e *memberFailed) Error() string { return "the worker reports: " + e.msg }

// quoteLine quotes a line of a worker's output for a message, cut to 200
// bytes.
func quoteLine(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}
