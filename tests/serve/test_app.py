"""The lab's ASGI app on a language-model run: its page and nothing else, streaming, activations equal to a
direct forward pass, refusals that name the field, the limits, one model load, concurrent generations."""
import threading

import httpx2
import pytest
import torch
from starlette.testclient import TestClient

from rnnkit.tasks.lm import load_language_model
from rnnkit.serve import Limits, create_app, open_runs

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def runs(lm_run):
    return open_runs([str(lm_run)], torch.device("cpu"))


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), base_url=BASE)


@pytest.fixture(scope="module")
def model(lm_run):
    model, vocab, _ = load_language_model(lm_run)
    return model, vocab


def url(runs, action):
    return f"/api/runs/{runs[0].id}/{action}"


def generate(client, runs, sse, **body):
    with client.stream("POST", url(runs, "generate"), json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        return sse(response.iter_lines())


def test_the_page_and_only_its_own_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/lab.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/views/lm.js").headers["content-type"].startswith("text/javascript")
    for path in ("/static/../app.py", "/static/app.py", "/static/%2e%2e/app.py", "/static/", "/etc/passwd",
                 "/static/views/../../runs.py"):
        assert client.get(path).status_code == 404, path


def test_the_listing_names_the_run_its_gates_and_the_limits(client, runs):
    listing = client.get("/api/runs").json()
    [run] = listing["runs"]
    assert run["id"] == runs[0].id == "said" and run["task"] == "lm" and run["view"] == "lm"
    about = run["about"]
    assert [list(layer) for layer in about["layers"]] == [["i", "f", "g", "o", "c", "h"]] * 2
    assert about["layers"][0]["f"] == {"width": 16, "range": [0.0, 1.0]} and about["layers"][0]["c"]["range"] is None
    assert listing["limits"]["max_text"] == Limits().max_text


def lstm_states_step_by_step(model, ids):
    """``(h (L, T, H), c (L, T, H))`` from the fused layer run one token at a time (the fast path, no tracing)."""
    hs, cs, state = [], [], None
    with torch.no_grad():
        for t in range(ids.numel()):
            _, state = model.rnn(model.embed(ids[None, t:t + 1]), state)
            hs.append(state.h[:, 0])
            cs.append(state.c[:, 0])
    return torch.stack(hs, 1), torch.stack(cs, 1)


def test_generation_streams_pieces_whose_values_equal_a_direct_forward_pass(client, runs, model, sse):
    found = generate(client, runs, sse, prime='Anna said "', length=40, temperature=0.7, seed=3, layer=1, gate="c",
                     unit=5)
    assert found[0]["kind"] == "pieces" and found[0]["generated"] == [False] * 11
    assert "".join(found[0]["pieces"]) == 'Anna said "'
    written = found[1:-1]
    assert len(written) == 40 and all(e["kind"] == "pieces" and e["generated"] == [True] for e in written)
    assert found[-1]["kind"] == "done" and found[-1]["pieces"] == 51
    assert all(len(e["top"][0]) == 5 and abs(sum(p for _, p in e["top"][0]) - 1) < 1.0 for e in written)
    lm, vocab = model
    text = "".join(p for e in found[:-1] for p in e["pieces"])
    ids = vocab.encode(text)
    _, c = lstm_states_step_by_step(lm, ids)
    values = [v for e in found[:-1] for v in e["values"]]
    assert values == pytest.approx(c[1, :, 5].tolist(), rel=1e-3, abs=1e-4)
    with torch.no_grad():
        probs = lm(ids[None])[0][0].softmax(-1)                                  # (T, K)
    top = found[-2]["top"][0]
    assert top[0][0] == vocab.tokens[int(probs[-1].argmax())] and top[0][1] == pytest.approx(float(probs[-1].max()),
                                                                                              abs=1e-4)


def test_an_input_gate_equals_its_equation_on_the_layers_outputs(client, runs, model, sse):
    lm, vocab = model
    found = generate(client, runs, sse, prime="Bo", length=25, seed=1, layer=0, gate="i", unit=2)
    ids = vocab.encode("".join(p for e in found[:-1] for p in e["pieces"]))
    h, _ = lstm_states_step_by_step(lm, ids)
    cell = lm.rnn.cell(0)
    x = lm.embed(ids[None])[0].detach()                                          # (T, E)
    h_prev = torch.cat([torch.zeros(1, 16), h[0, :-1]])                          # (T, H)
    with torch.no_grad():                                                        # i: rows 0..H-1 of the gates
        i = (x @ cell.weight_ih[:16].T + cell.bias_ih[:16] + h_prev @ cell.weight_hh[:16].T
             + cell.bias_hh[:16]).sigmoid()
    assert [v for e in found[:-1] for v in e["values"]] == pytest.approx(i[:, 2].tolist(), rel=1e-3, abs=1e-4)


def test_reading_the_text_back_gives_the_streamed_values_and_another_unit_other_ones(client, runs, sse):
    found = generate(client, runs, sse, prime="Li said", length=30, seed=5, layer=0, gate="h", unit=7)
    text = "".join(p for e in found[:-1] for p in e["pieces"])
    streamed = [v for e in found[:-1] for v in e["values"]]
    same = client.post(url(runs, "read"), json={"text": text, "layer": 0, "gate": "h", "unit": 7}).json()
    assert "".join(same["pieces"]) == text and same["values"] == pytest.approx(streamed, abs=1e-3)
    other = client.post(url(runs, "read"), json={"text": text, "layer": 0, "gate": "h", "unit": 8}).json()
    assert len(other["values"]) == len(text) and other["values"] != same["values"]


def test_units_are_ranked_on_the_validation_text(client, runs):
    answer = client.post(url(runs, "units"), json={"layer": 1, "gate": "c"}).json()
    assert answer["source"] == "the validation split of said.txt"
    scores = answer["units"]
    assert len(scores) == 16 and sorted(s["unit"] for s in scores) == list(range(16))
    assert [abs(s["r"]) for s in scores] == sorted((abs(s["r"]) for s in scores), reverse=True)
    assert {s["feature"] for s in scores} <= {"position in line", "inside quotes", "inside brackets", "line end"}
    assert abs(scores[0]["r"]) > 0.1                     # something tracks the text after 60 steps of training


def test_the_gradient_map_is_the_tracers(client, runs):
    text = 'Mia said "yes" (2 times).\nBo said'
    answer = client.post(url(runs, "gradients"), json={"text": text, "layer": 1}).json()
    pieces, flow = runs[0].model.tracer.gradient_flow(text)
    assert answer["pieces"] == pieces and answer["shown"] == answer["of"] == len(text) - 1
    norms = torch.tensor(answer["norms"])
    torch.testing.assert_close(norms, flow.norms[1].float(), rtol=1e-3, atol=0)
    assert bool((norms.triu(1) == 0).all()) and bool((norms.diagonal() > 0).all())
    long = client.post(url(runs, "gradients"), json={"text": text * 10, "layer": 0}).json()
    assert long["shown"] == Limits().max_gradient_tokens and long["of"] == len(text) * 10 - 1


@pytest.mark.parametrize("content, status, message", [
    (b'{"text": "caf\xe9"}', 400, "body: not UTF-8 (byte 0xe9 at position 13)"),
    (b'{"text": ', 400, "body: not JSON"),
    (b'["text"]', 400, "body: expected a JSON object, got list"),
    (b'{"text": "\\ud800"}', 400, "text: not valid Unicode (a lone surrogate at position 0)"),
    (b'{"text": 3}', 400, "text: expected a string, got int"),
    (b'{}', 400, "text: missing"),
    (b'{"text": "ab", "gate": "x"}', 400, "gate: expected one of i, f, g, o, c, h, got 'x'"),
    (b'{"text": "ab", "unit": 16}', 400, "unit: expected an integer in [0, 15], got 16"),
    (b'{"text": "ab", "layer": true}', 400, "layer: expected an integer in [0, 1], got True"),
])
def test_bad_input_is_refused_with_the_field_named(client, runs, content, status, message):
    answer = client.post(url(runs, "read"), content=content, headers={"content-type": "application/json"})
    assert answer.status_code == status and answer.json()["error"].startswith(message)


@pytest.mark.parametrize("body, message", [
    ({"temperature": 0}, "temperature: expected a number in (0, 10], got 0"),
    ({"temperature": "hot"}, "temperature: expected a number in (0, 10], got 'hot'"),
    ({"length": 0}, "length: expected an integer in [1, 2000], got 0"),
    ({"length": 2001}, "length: expected an integer in [1, 2000], got 2001"),
    ({"top_k": 0}, "top_k: expected an integer in [1, "),
    ({"top_p": 1.5}, "top_p: expected a number in (0, 1], got 1.5"),
    ({"seed": -1}, "seed: expected an integer in [0, "),
    ({"prime": "x" * 2001}, "prime: 2,001 characters; the lab takes at most 2,000"),
])
def test_bad_generation_options_are_refused_before_streaming(client, runs, body, message):
    answer = client.post(url(runs, "generate"), json=body)
    assert answer.status_code == 400 and answer.json()["error"].startswith(message)


def test_a_pages_text_sent_back_is_limited(client, runs):
    answer = client.post(url(runs, "read"), json={"text": "a" * 20_001})
    assert answer.status_code == 400
    assert answer.json()["error"] == "text: 20,001 characters; the lab takes at most 20,000"


def test_unknown_runs_actions_and_hosts_are_refused(client, runs):
    assert client.post("/api/runs/nope/read", json={}).json()["error"] == "run: no run named 'nope'; the lab shows said"
    answer = client.post(url(runs, "translate"), json={})
    assert answer.status_code == 404 and answer.json()["error"].startswith("action: the language model view has no")
    assert client.get("/api/runs").status_code == 200
    rebinding = TestClient(client.app, base_url="http://attacker.example")
    assert rebinding.get("/").status_code == 400 and rebinding.get("/api/runs").status_code == 400


def test_the_body_size_and_request_rate_are_limited(runs):
    client = TestClient(create_app(runs, Limits(max_body_bytes=100, requests_per_second=0.5, burst=3)), base_url=BASE)
    too_big = client.post(url(runs, "read"), json={"text": "a" * 200})
    assert too_big.status_code == 413 and too_big.json()["error"].startswith("body: ")
    answers = [client.post(url(runs, "read"), json={"text": "ab"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].headers["retry-after"] == "1" and answers[-1].json()["error"].startswith("rate: more than 0.5")


def test_each_run_is_loaded_once(lm_run, monkeypatch, sse):
    from rnnkit.train import restore

    calls = []
    original = restore.restore_model
    monkeypatch.setattr(restore, "restore_model", lambda *a, **k: calls.append(a) or original(*a, **k))
    loaded = open_runs([str(lm_run)], torch.device("cpu"))
    client = TestClient(create_app(loaded), base_url=BASE)
    for _ in range(2):
        generate(client, loaded, sse, prime="Bo", length=5)
        client.post(url(loaded, "read"), json={"text": "Bo said"})
        client.post(url(loaded, "gradients"), json={"text": "Bo said"})
    assert len(calls) == 1


def test_streams_arrive_as_written_and_their_number_is_limited(runs, serving, sse):
    with serving(create_app(runs, Limits(max_streams=1))) as base, httpx2.Client(base_url=base, timeout=30) as http:
        with http.stream("POST", url(runs, "generate"), json={"prime": "Bo", "length": 2000}) as first:
            lines = first.iter_lines()
            assert sse([next(lines)])[0]["generated"] == [False, False]   # the prime arrives before the rest is written
            refused = http.post(url(runs, "generate"), json={"prime": "Bo", "length": 5})
            assert refused.status_code == 429
            assert refused.json()["error"].startswith("streams: 1 generations are running")
        for _ in range(100):                                             # the closed stream gives its slot back
            with http.stream("POST", url(runs, "generate"), json={"prime": "Bo", "length": 3}) as again:
                if again.status_code == 200:
                    assert sse(again.iter_lines())[-1]["kind"] == "done"
                    break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the slot of the closed stream was not given back")


def test_concurrent_generations_on_one_run_equal_sequential_ones(runs, serving, sse):
    bodies = [{"prime": name, "length": 40, "seed": seed, "gate": "c", "unit": seed}
              for seed, name in enumerate(["Anna", "Bo", "Li", "Mia"])]
    with serving(create_app(runs)) as base, httpx2.Client(base_url=base, timeout=60) as http:
        def written(body):
            with http.stream("POST", url(runs, "generate"), json=body) as response:
                return sse(response.iter_lines())

        sequential = [written(body) for body in bodies]
        together = [None] * len(bodies)
        threads = [threading.Thread(target=lambda k=k: together.__setitem__(k, written(bodies[k])))
                   for k in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in run] for run in together]
    assert strip == [[{k: v for k, v in e.items() if k != "seconds"} for e in run] for run in sequential]
