"""``rnnkit serve``: one-line errors for what is not a run, a taken port, a missing extra; a live server
on every network says so, and answers."""
import socket
import sys

from rnnkit.cli.demo import PRETRAINED
from rnnkit.cli.main import main


def test_a_directory_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rnnkit: error: RUN_DIR: {tmp_path} is not a run: no readable ")


def test_a_taken_port_is_named(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    expected = f"rnnkit: error: --port: cannot listen on 127.0.0.1:{port} (Address already in use)\n"
    assert capsys.readouterr().err == expected


def test_bad_port_values_stop_in_the_parser(capsys):
    assert main(["serve", "x", "--port", "70000"]) == 2
    assert "--port: expected a port number in [0, 65535] (0: a free one), got '70000'" in capsys.readouterr().err


def test_without_the_lab_extra_it_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)                  # what `import uvicorn` meets when not installed
    assert main(["serve", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "rnnkit: error: serve: needs uvicorn: pip install 'rnnkit[lab]'\n"


def test_listening_beyond_this_machine_says_so_and_drops_the_host_check(monkeypatch, capsys):
    import uvicorn
    from starlette.testclient import TestClient

    served = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets: served.update(app=server.config.app,
                                                                                     socket=sockets[0]))
    assert main(["serve", str(PRETRAINED), "--host", "0.0.0.0", "--port", "0", "--threads", "1"]) == 0
    port = served["socket"].getsockname()[1]
    served["socket"].close()
    out, err = capsys.readouterr()
    assert out == f"  poems: language model ({PRETRAINED})\nrnnkit lab: http://0.0.0.0:{port}/ (Ctrl-C stops it)\n"
    assert err.startswith("rnnkit: warning: listening on 0.0.0.0, not on this machine only: anyone who can reach "
                          f"port {port} here can use the lab")
    assert TestClient(served["app"], base_url="http://lab.example").get("/api/runs").status_code == 200
