# closed-pipe.sh - sourced by the shell tests: run a command whose standard
# output is a pipe nobody reads any more (as after `claw ... | head -1` has
# its line), once with SIGPIPE inherited as default and once as ignored.
# Prints "RC 'STDERR'" for each; claw should say "0 ''" both times.
closed_pipe() { # closed_pipe COMMAND...
    "${PYTHON3:-python3}" - "$@" <<'EOF2'
import os, signal, subprocess, sys
r, w = os.pipe()
os.close(r)
for disp in (signal.SIG_DFL, signal.SIG_IGN):
    p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE, restore_signals=False,
                       preexec_fn=lambda: signal.signal(signal.SIGPIPE, disp))
    print(p.returncode, repr(p.stderr.decode(errors="replace")))
EOF2
}
