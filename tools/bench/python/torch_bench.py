"""Time torch.optim steps on CPU for the @opt benchmark suite.

Reads a JSON request on stdin:
  {"cases": [{"id", "optimizer", "dtype", "elements", "tensors"}...],
   "threads": [1, 0, 2],         # 0 = PyTorch's default; counts already timed are skipped
   "warmupMs", "targetMs", "minSamples", "maxSamples"}
and writes one JSON object on stdout:
  {"torch": version, "defaultThreads": n, "results": [{"id", "threads", "stepsPerSample", "samplesNs"} or
   {"id", "threads", "error"}]}

Every sample is the wall time of `stepsPerSample` consecutive `opt.step()` calls
with fixed gradients (the same policy as the C and JavaScript timings).
"""
import json
import sys
import time


def make_optimizer(torch, name, params):
    o = torch.optim
    if name == "adam":
        return o.Adam(params, lr=1e-3)
    if name == "adamw":
        return o.AdamW(params, lr=1e-3, weight_decay=1e-2)
    if name == "sgd_momentum":
        return o.SGD(params, lr=1e-2, momentum=0.9)
    if name == "adagrad":
        return o.Adagrad(params, lr=1e-2)
    if name == "rmsprop":
        return o.RMSprop(params, lr=1e-2, alpha=0.99)
    raise ValueError("torch.optim has no %s in this version" % name)


def time_case(torch, case, req):
    dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(case["tensors"]):
        p = torch.nn.Parameter(torch.randn(case["elements"], generator=gen, dtype=dtype))
        p.grad = torch.randn(case["elements"], generator=gen, dtype=dtype) * 0.1
        params.append(p)
    opt = make_optimizer(torch, case["optimizer"], params)
    ns = time.perf_counter_ns
    t0 = ns()
    warm = 0
    while warm < 2 or ns() - t0 < req["warmupMs"] * 1e6:
        opt.step()
        warm += 1
    per_step = (ns() - t0) / warm
    k = 1
    while k * per_step < 50e3 and k < 1000000:
        k *= 2
    samples = int(req["targetMs"] * 1e6 / (k * per_step))
    samples = max(req["minSamples"], min(req["maxSamples"], samples))
    out = []
    for _ in range(samples):
        a = ns()
        for _ in range(k):
            opt.step()
        out.append(ns() - a)
    return k, out


def main():
    req = json.load(sys.stdin)
    try:
        import torch
    except Exception as e:  # torch absent: the caller prints the reason as a note
        json.dump({"error": "cannot import torch: %s" % e}, sys.stdout)
        return
    default_threads = torch.get_num_threads()
    results = []
    done = set()
    for threads in req["threads"]:
        effective = threads if threads > 0 else default_threads
        if effective in done:
            continue
        done.add(effective)
        torch.set_num_threads(effective)
        for case in req["cases"]:
            entry = {"id": case["id"], "threads": torch.get_num_threads()}
            try:
                k, samples = time_case(torch, case, req)
                entry["stepsPerSample"] = k
                entry["samplesNs"] = samples
            except Exception as e:
                entry["error"] = "%s: %s" % (type(e).__name__, e)
            results.append(entry)
            print("torch %s threads=%d done" % (case["id"], entry["threads"]), file=sys.stderr, flush=True)
    json.dump({"torch": torch.__version__, "defaultThreads": default_threads, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
