#!/usr/bin/env python3
"""Answer accuracy from the contexts `mnemo bench context --dump FILE` wrote.

For each dumped question (at one budget), a model answers from the context alone; a second
call judges the answer against the gold one (the LLM-as-judge protocol used with LoCoMo:
CORRECT when it names the same thing or time, generously, else WRONG). Category 5 questions
(adversarial: no turn answers them) are judged against "not mentioned" and reported apart,
as in the retrieval protocol. Any OpenAI-compatible endpoint works (OpenAI, llama.cpp,
vLLM, Ollama's /v1); standard library only.

    mnemo bench context ../shared/bench/locomo/locomo-dev.json --dump /tmp/ctx.jsonl
    OPENAI_BASE_URL=http://127.0.0.1:8080/v1 scripts/locomo_qa.py /tmp/ctx.jsonl \\
        --model qwen2.5:7b --budget 2000 [--judge-model M] [--limit N] [--json]
"""

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections import defaultdict

ANSWER_SYSTEM = (
    "You answer a question about earlier conversations with this user, using only the "
    "memory block given. Answer in a few words. When the memory does not say, answer "
    "'not mentioned'."
)
JUDGE_SYSTEM = (
    "Label a generated answer to a question as CORRECT or WRONG against the gold answer. "
    "Be generous: it is CORRECT when it refers to the same thing, person, number or time as "
    "the gold answer (another date format, or a relative date that resolves to the same day, "
    "counts), even if it says more. It is WRONG when it names something else or says it does "
    "not know while the gold answer names something. Reply with one word: CORRECT or WRONG."
)
NOT_MENTIONED = "Not mentioned in the conversation"
CATEGORIES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop",
              "5": "adversarial"}


def chat(base, key, model, system, user, timeout):
    body = json.dumps({
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": 0,
        "max_tokens": 64,
    }).encode()
    req = urllib.request.Request(base.rstrip("/") + "/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"locomo_qa.py: {base} answered {e.code}: {e.read()[:300]!r}")
    except (urllib.error.URLError, TimeoutError) as e:
        sys.exit(f"locomo_qa.py: cannot reach {base} ({e}); set OPENAI_BASE_URL or --base-url")
    try:
        return reply["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        sys.exit(f"locomo_qa.py: not an OpenAI chat completion: {json.dumps(reply)[:300]}")


def label(text):
    m = re.search(r"\b(CORRECT|WRONG)\b", text.upper())
    return m.group(1) == "CORRECT" if m else False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump", help="JSON Lines from `mnemo bench context --dump`")
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL",
                                                         "http://127.0.0.1:8080/v1"))
    ap.add_argument("--model", default=os.environ.get("MNEMO_MODEL", "gpt-4o-mini"))
    ap.add_argument("--judge-model", help="default: --model")
    ap.add_argument("--budget", type=int, help="which budget's contexts (default: 2000 if "
                    "dumped, else the largest)")
    ap.add_argument("--limit", type=int, help="only the first N questions")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    key = os.environ.get("OPENAI_API_KEY", "")
    try:
        with open(a.dump, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"locomo_qa.py: cannot read {a.dump}: {e}")
    budgets = sorted({r["budget"] for r in rows})
    if not budgets:
        sys.exit(f"locomo_qa.py: {a.dump} holds no question")
    budget = a.budget or (2000 if 2000 in budgets else budgets[-1])
    if budget not in budgets:
        sys.exit(f"locomo_qa.py: no contexts at budget {budget}; the dump has {budgets}")
    rows = [r for r in rows if r["budget"] == budget][: a.limit]
    right = defaultdict(int)
    seen = defaultdict(int)
    for r in rows:
        cat = str(r["category"])
        gold = r["answer"] if cat != "5" else NOT_MENTIONED
        answer = chat(a.base_url, key, a.model, ANSWER_SYSTEM,
                      f"{r['context']}\n\nQuestion: {r['question']}", a.timeout).strip()
        verdict = chat(a.base_url, key, a.judge_model or a.model, JUDGE_SYSTEM,
                       f"Question: {r['question']}\nGold answer: {gold}\n"
                       f"Generated answer: {answer}", a.timeout)
        seen[cat] += 1
        right[cat] += label(verdict)
    scored = [c for c in seen if c != "5"]
    n = sum(seen[c] for c in scored)
    result = {
        "n": n,
        "budget": budget,
        "model": a.model,
        "accuracy": round(sum(right[c] for c in scored) / n, 4) if n else 0.0,
        "per_category": {c: {"n": seen[c], "accuracy": round(right[c] / seen[c], 4)}
                         for c in sorted(seen)},
    }
    if a.json:
        print(json.dumps(result))
        return
    print(f"budget {budget}, model {a.model}: accuracy {result['accuracy']:.3f} over {n} "
          "questions (categories 1-4)")
    for c, v in result["per_category"].items():
        print(f"  {c} {CATEGORIES.get(c, c):<12} n {v['n']:>4}  accuracy {v['accuracy']:.3f}")


if __name__ == "__main__":
    main()
