"""Messages over Pipes and Queues: what was sent arrived, in the order it was sent."""

from __future__ import annotations

from mpgrade.checks.facts import short
from mpgrade.checks.registry import NoParams, Outcome, check, not_applicable
from mpgrade.model import CheckContext, Message
from mpgrade.wording import plural


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _channel_report(channel: str, msgs: list[Message]) -> tuple[bool, str]:
    """(in order, sentence) for one channel.

    A Pipe is duplex: what one process receives is compared with what the *other*
    processes sent. A Queue with several producers has no single send order, so only
    that nothing arrived which was never sent is checked there.
    """
    msgs = sorted(msgs, key=lambda m: m.t)  # stable: recorded order breaks ties
    sends = [m for m in msgs if m.op == "send"]
    recvs = [m for m in msgs if m.op == "recv"]
    producers = {m.pid for m in sends}
    if msgs[0].kind == "queue" and len(producers) > 1:
        pool = [m.value for m in sends]
        for r in recvs:
            if r.value not in pool:
                return False, f"{channel} delivered {r.value}, which no process put on it"
            pool.remove(r.value)
        return True, (f"{len(sends)} messages put on {channel} by {len(producers)} processes, "
                      f"{len(recvs)} received")
    duplex = msgs[0].kind == "pipe"
    for reader in dict.fromkeys(r.pid for r in recvs):
        got = [r.value for r in recvs if r.pid == reader or not duplex]
        sent = [s.value for s in sends if s.pid != reader or not duplex]
        for i, value in enumerate(got):
            if i >= len(sent) or sent[i] != value:
                expected = f"{sent[i]} was sent {_ordinal(i + 1)}" if i < len(sent) else "nothing more was sent"
                return False, (f"the {_ordinal(i + 1)} message received over {channel} was {value}, "
                               f"but {expected}")
    return True, f"{plural(len(sends), 'message')} sent over {channel}, {len(recvs)} received in order"


@check("pipe.order")
def order(ctx: CheckContext, params: NoParams) -> Outcome:
    """Messages over each Pipe/Queue were received as a prefix of what was sent, in order (when one is used)."""
    channels: dict[str, list[Message]] = {}
    for m in ctx.trace.messages:
        channels.setdefault(m.channel, []).append(m)
    if not channels:
        return not_applicable("No Pipe or Queue was used.")
    reports = [_channel_report(name, msgs) for name, msgs in sorted(channels.items())]
    bad = [text for ok, text in reports if not ok]
    if bad:
        return Outcome(False, f"Messages arrived out of order: {bad[0]}.")
    text = short([text for _, text in reports])
    return Outcome(True, text[:1].upper() + text[1:] + ".")
