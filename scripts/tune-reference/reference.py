#!/usr/bin/python3
"""Recompute chatloop's DPO loss and LoRA gradient in PyTorch (float64).

Reads the directory tune-reference (main.go) wrote: the tiny model's
weights, the adapter, the preference pair, and chatloop's loss and
gradient; runs the qwen2 forward pass with the LoRA side paths in
float64, TRL's DPO (sigmoid) or IPO loss, autograd, and prints the
relative errors. Exits 1 when the gradient's relative error exceeds 1e-4.

    /usr/bin/python3 scripts/tune-reference/reference.py DIR
"""
import json
import math
import os
import sys

import torch

torch.set_default_dtype(torch.float64)


def load(d, t):
    with open(os.path.join(d, t["file"]), "rb") as f:
        data = bytearray(f.read())
    return torch.frombuffer(data, dtype=torch.float32).to(torch.float64).reshape(t["shape"])


def main(d):
    with open(os.path.join(d, "manifest.json")) as f:
        mf = json.load(f)
    W = {k: load(d, t) for k, t in mf["tensors"].items()}
    lora = {k: load(d, t).requires_grad_(True) for k, t in mf["adapter"].items()}
    go_grads = {k: load(d, t) for k, t in mf["grads"].items()}
    H, nh, nkv, hd = mf["hidden"], mf["heads"], mf["kv_heads"], mf["head_dim"]
    eps, scale = mf["eps"], mf["alpha"] / mf["rank"]

    def rmsnorm(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def rope(x, n):  # x: [n, heads, hd]
        half = hd // 2
        inv = torch.tensor([mf["rope_base"] ** (-2.0 * i / hd) for i in range(half)])
        ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
        c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        if mf["rope_neox"]:
            a, b = x[..., :half], x[..., half:]
            return torch.cat([a * c - b * s, a * s + b * c], -1)
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
        return out

    def linear(x, name, adapt):
        y = x @ W[name].T
        if adapt and name + ".A" in lora:
            y = y + scale * (x @ lora[name + ".A"].T) @ lora[name + ".B"].T
        return y

    def logprob(tokens, adapt):
        n = len(tokens)
        x = W["token_embd"][torch.tensor(tokens)]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for l in range(mf["layers"]):
            p = "blk.%d." % l
            h = rmsnorm(x, W[p + "attn_norm"])
            q = linear(h, p + "attn_q", adapt) + W.get(p + "attn_q.bias", 0)
            k = linear(h, p + "attn_k", adapt) + W.get(p + "attn_k.bias", 0)
            v = linear(h, p + "attn_v", adapt) + W.get(p + "attn_v.bias", 0)
            q, k, v = q.view(n, nh, hd), k.view(n, nkv, hd), v.view(n, nkv, hd)
            q, k = rope(q, n), rope(k, n)
            g = nh // nkv
            k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
            att = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd) + mask
            o = torch.einsum("hij,jhd->ihd", att.softmax(-1), v).reshape(n, nh * hd)
            x = x + linear(o, p + "attn_output", adapt)
            h = rmsnorm(x, W[p + "ffn_norm"])
            a = torch.nn.functional.silu(linear(h, p + "ffn_gate", adapt)) * linear(h, p + "ffn_up", adapt)
            x = x + linear(a, p + "ffn_down", adapt)
        logits = rmsnorm(x, W["output_norm"]) @ W["token_embd"].T
        lp = logits.log_softmax(-1)
        s = mf["start"]
        return sum(lp[t - 1, tokens[t]] for t in range(s, n)), n - s

    pc, nc = logprob(mf["chosen"], True)
    pr, nr = logprob(mf["rejected"], True)
    with torch.no_grad():
        rc, _ = logprob(mf["chosen"], False)
        rr, _ = logprob(mf["rejected"], False)
    beta = mf["beta"]
    if mf["loss"] == "ipo":
        h = (pc / nc - pr / nr) - (rc / nc - rr / nr)
        loss = (h - 1 / (2 * beta)) ** 2
    else:
        h = (pc - pr) - (rc - rr)
        loss = -torch.nn.functional.logsigmoid(beta * h)
    loss.backward()

    go = mf["go"]
    print("%-14s %18s %18s %10s" % ("", "chatloop (f32)", "pytorch (f64)", "rel. err"))
    for name, ours, ref in [("loss", go["loss"], loss.item()), ("logp chosen", go["logp_chosen"], pc.item()),
                            ("logp rejected", go["logp_rejected"], pr.item()), ("ref chosen", go["ref_chosen"], rc.item()),
                            ("ref rejected", go["ref_rejected"], rr.item())]:
        print("%-14s %18.10g %18.10g %10.2e" % (name, ours, ref, abs(ours - ref) / max(abs(ref), 1e-30)))
    num = den = 0.0
    worst, worst_name = 0.0, ""
    for k in sorted(lora):
        g_ref, g_go = lora[k].grad, go_grads[k]
        num += float(((g_go - g_ref) ** 2).sum())
        den += float((g_ref ** 2).sum())
        e = float((g_go - g_ref).norm() / g_ref.norm())
        if e > worst:
            worst, worst_name = e, k
    rel = math.sqrt(num / den)
    print("LoRA gradient: %d tensors, %d values; relative error ||g - g_ref|| / ||g_ref|| = %.3e; worst tensor %s %.3e"
          % (len(lora), sum(v.numel() for v in lora.values()), rel, worst_name, worst))
    if rel > 1e-4:
        print("FAIL: relative error above 1e-4")
        return 1
    print("OK: relative error <= 1e-4")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
