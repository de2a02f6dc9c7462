"""The Python peers' side of the benchmark: one workload, one implementation, per process.

    bench/.venv/bin/python bench/peers.py IMPL WORKLOAD --inputs DIR [options]

IMPL is `tiktoken`, `langchain_core` or `ai_infra`. Prints one JSON object on stdout with
the same fields as `agent-memory-bench` (crates/agent-memory-bench): the first (cold) call,
the median and fastest of the timed calls, the workload's result (token counts and a
digest of the per-item counts, or the kept messages) and the process's peak RSS.
Loading and converting the inputs is not timed, for either side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from importlib.metadata import version


def peak_rss_kb() -> int:
    """The process's peak resident set (VmHWM), as agent-memory-bench reads it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(call, describe, min_reps: int, min_seconds: float, max_reps: int) -> dict:
    """Times one cold call, then at least `min_reps` calls and `min_seconds` in all.

    `describe` turns a call's output into the reported result, outside the timing; one
    more call after the timed ones must be described the same as the first.
    """
    start = time.perf_counter()
    output = call()
    first = time.perf_counter() - start
    result = describe(output)
    del output
    times: list[float] = []
    while len(times) < max_reps and (len(times) < min_reps or sum(times) < min_seconds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    if describe(call()) != result:
        raise SystemExit("peers: a repeated call gave a different result")
    return {
        "first_s": first,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "reps": len(times),
        "result": result,
    }


def counts_digest(counts) -> str:
    """sha256 of the per-item counts written as decimal numbers joined by commas."""
    return hashlib.sha256(",".join(map(str, counts)).encode()).hexdigest()


def load_json(inputs: str, name: str):
    with open(os.path.join(inputs, name), encoding="utf-8") as f:
        return json.load(f)


# --- token counting (tiktoken) ----------------------------------------------------------


def count_text(args):
    import tiktoken

    enc = tiktoken.get_encoding(args.encoding)
    with open(os.path.join(args.inputs, "corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    size = len(text.encode())
    return lambda: len(enc.encode_ordinary(text)), lambda tokens: {"tokens": tokens, "bytes": size}


def per_item(counts, extra: int = 0) -> dict:
    return {"tokens": sum(counts) + extra, "items": len(counts), "digest": counts_digest(counts)}


def count_messages(args):
    import tiktoken

    enc = tiktoken.get_encoding(args.encoding)
    messages = load_json(args.inputs, "messages.json")
    encode = enc.encode_ordinary

    return lambda: [len(encode(m)) for m in messages], per_item


def count_chat(args):
    """The short messages as one chat of user messages, counted as OpenAI's cookbook does."""
    import tiktoken

    encode = tiktoken.get_encoding(args.encoding).encode_ordinary
    chat = [{"role": "user", "content": m} for m in load_json(args.inputs, "messages.json")]

    def num_tokens_from_messages(messages):
        """The cookbook's function, keeping each message's count for the digest."""
        counts = []
        for message in messages:
            tokens = 3
            for key, value in message.items():
                tokens += len(encode(value))
                if key == "name":
                    tokens += 1
            counts.append(tokens)
        return sum(counts) + 3, counts

    def describe(output):
        total, counts = output
        assert total == sum(counts) + 3
        return per_item(counts, 3)

    return lambda: num_tokens_from_messages(chat), describe


# --- trimming and fitting (langchain_core, ai_infra) ------------------------------------


def conversation(args):
    from langchain_core.messages import convert_to_messages

    return convert_to_messages(load_json(args.inputs, "conversation.json"))


def exact_message_counter(encoding: str):
    """Exact tokens of one message under OpenAI's chat framing, as agent-memory counts it.

    Per message: 3 framing tokens, the role, the text; per tool call its name, its
    arguments (JSON) and 1 (as tiktoken-rs's `num_tokens_from_messages`).
    """
    import tiktoken

    encode = tiktoken.get_encoding(encoding).encode_ordinary
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}

    def count(message) -> int:
        content = message.content if isinstance(message.content, str) else message.text
        total = 3 + len(encode(roles[message.type])) + len(encode(content))
        for call in getattr(message, "tool_calls", ()) or ():
            total += len(encode(call["name"])) + len(encode(json.dumps(call["args"]))) + 1
        return total

    return count


def kept(messages) -> dict:
    """What a trim kept: how many messages, the role after the system message, validity."""
    return {
        "kept": len(messages),
        "after_system": messages[1].type if len(messages) > 1 else None,
        "valid": valid_tool_pairs(messages),
    }


def valid_tool_pairs(messages) -> bool:
    """True when every tool result follows its call and every call has its result."""
    called: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        if message.type == "ai":
            called.update(call["id"] for call in message.tool_calls)
        elif message.type == "tool":
            if message.tool_call_id not in called:
                return False
            answered.add(message.tool_call_id)
    return called == answered


def trim(args):
    messages = conversation(args)
    if args.impl == "langchain_core":
        from langchain_core.messages import trim_messages
        from langchain_core.messages.utils import count_tokens_approximately

        common = {"strategy": "last", "include_system": True, "start_on": "human", "allow_partial": False}
        if args.workload == "trim-last":
            # `len` counts messages; +1 because langchain counts the kept system message too.
            options = {"max_tokens": args.max_messages + 1, "token_counter": len}
        elif args.workload == "trim-tokens-approx":
            options = {"max_tokens": args.max_tokens, "token_counter": count_tokens_approximately}
        else:
            count = exact_message_counter(args.encoding)
            options = {"max_tokens": args.max_tokens, "token_counter": lambda msgs: sum(count(m) for m in msgs)}
        return lambda: trim_messages(messages, **common, **options), kept

    from ai_infra.llm.memory.trim import trim_messages

    if args.workload == "trim-last":
        options = {"strategy": "last", "max_messages": args.max_messages}
    elif args.workload == "trim-tokens-approx":
        options = {"strategy": "token", "max_tokens": args.max_tokens}
    else:
        count = exact_message_counter(args.encoding)
        options = {
            "strategy": "token",
            "max_tokens": args.max_tokens,
            "token_counter": lambda msgs: sum(count(m) for m in msgs),
        }
    return lambda: trim_messages(messages, **options), kept


class FixedSummarizer:
    """Stands in for the LLM: returns the same short summary at once."""

    def chat(self, prompt: str) -> str:
        return "The user and the assistant discussed Vim and Perl documentation."


def fit(args):
    from ai_infra.llm.memory.context import fit_context

    messages = conversation(args)
    summarize = args.workload == "fit-summarize"
    llm = FixedSummarizer()

    def describe(result):
        return {**kept(result.messages), "action": result.action, "tokens": result.tokens}

    return lambda: fit_context(messages, args.max_tokens, summarize=summarize, keep=args.keep, llm=llm), describe


WORKLOADS = {
    "count-text": ({"tiktoken"}, count_text),
    "count-messages": ({"tiktoken"}, count_messages),
    "count-chat": ({"tiktoken"}, count_chat),
    "trim-last": ({"langchain_core", "ai_infra"}, trim),
    "trim-tokens-approx": ({"langchain_core", "ai_infra"}, trim),
    "trim-tokens-exact": ({"langchain_core", "ai_infra"}, trim),
    "fit-trim": ({"ai_infra"}, fit),
    "fit-summarize": ({"ai_infra"}, fit),
}

DISTRIBUTIONS = {"tiktoken": "tiktoken", "langchain_core": "langchain-core", "ai_infra": "ai-infra"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=sorted(DISTRIBUTIONS))
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--encoding", default="o200k_base")
    parser.add_argument("--max-messages", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=100_000)
    parser.add_argument("--keep", type=int, default=10)
    parser.add_argument("--min-reps", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--max-reps", type=int, default=200)
    args = parser.parse_args()

    impls, build = WORKLOADS[args.workload]
    if args.impl not in impls:
        parser.error(f"{args.impl} has no {args.workload} workload (it has {sorted(impls)})")
    call, describe = build(args)
    out = measure(call, describe, args.min_reps, args.min_seconds, args.max_reps)
    out.update(
        {
            "impl": args.impl,
            "version": version(DISTRIBUTIONS[args.impl]),
            "workload": args.workload,
            "peak_rss_kb": peak_rss_kb(),
        }
    )
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
