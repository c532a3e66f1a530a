"""``jacx explore`` on the command line: the URL on its own line, one-line errors with status 2."""

import os
import re
import signal
import subprocess
import sys
import urllib.request

from jacx._cli import main


def test_no_browser_prints_only_the_url_and_serves_it():
    code = "from jacx._cli import main; raise SystemExit(main())"
    env = {**os.environ, "BROWSER": "false"}
    proc = subprocess.Popen([sys.executable, "-c", code, "explore", "--no-browser", "x^2 - y^2, 2*x*y"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}\n", line), line
        with urllib.request.urlopen(line.strip(), timeout=30) as response:
            assert response.status == 200 and b"jacx explorer" in response.read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert out == ""  # nothing else on stdout


def test_bad_input_is_one_line_with_status_2(capsys):
    for argv, words in ((["explore", "x*z"], "only the variables x and y"),
                        (["explore", "x^2 +"], "ends"),
                        (["explore", "--port", "70000"], "65535"),
                        (["explore", "x^2", "+", "y"], "quote the expression")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("jacx: error: ") and words in err and err.count("\n") == 1, err


def test_help(capsys):
    assert main(["explore", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--no-browser" in out and "127.0.0.1" in out
