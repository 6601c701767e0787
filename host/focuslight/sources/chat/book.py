"""The chat source's memory: each agent's open conversations and how long a customer waits.

Pure bookkeeping (the clock is passed in), so every rule is tested without a
server: a platform mapping turns a webhook into :class:`ChatEvent` values, the
book applies them and says, per agent, how many chats are open and since when
the oldest unanswered customer message has waited. Nothing about a customer is
kept but the platform's conversation key (never published, never logged) and
two times.

Memory is bounded: at most ``max_per_agent`` conversations per agent and
``max_total`` in all; past a cap a new conversation is refused (the source logs
one line), and a conversation with no event for ``forget_after_s`` (a missed
"closed" webhook) is dropped, so no agent stays ``engaged`` forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import Attention

OPEN, CUSTOMER, REPLY, CLOSE = "open", "customer", "reply", "close"
"""What happened to a conversation: assigned/opened/transferred (to its *owner*), a
customer's message, an agent's reply, closed (resolved, snoozed, deleted)."""
KINDS = frozenset({OPEN, CUSTOMER, REPLY, CLOSE})


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One conversation event, as a platform mapping reads it from a webhook.

    *owner*: the platform's id of the agent the conversation is assigned to after
    the event, ``""`` when it is unassigned, None when the payload does not say
    (the owner stays as it was). *waiting_since*: the platform's own "customer
    waiting since" (Unix seconds) where it sends one, so a conversation that
    waited in a queue before it was assigned here arrives already waiting.
    """

    kind: str
    conversation: str
    owner: str | None = None
    waiting_since: float | None = None


@dataclass(slots=True)
class _Chat:
    agent: str
    touched: float
    """Monotonic time of its last event (for ``forget_after_s``)."""
    waiting: float | None = None
    """Monotonic time the oldest unanswered customer message arrived; None: answered."""
    waiting_wall: float | None = None


class ChatBook:
    """Open conversations per agent, and the waits that make a reply due.

    :param reply_after_s: a customer message unanswered this long makes the cue.
    :param escalate_after_s: unanswered this long flags the agent for a supervisor.
    :param max_per_agent: open conversations kept per agent.
    :param max_total: open conversations kept in all.
    :param forget_after_s: a conversation with no event this long is dropped.
    """

    def __init__(self, reply_after_s: float = 60.0, escalate_after_s: float = 300.0, *,
                 max_per_agent: int = 50, max_total: int = 5000,
                 forget_after_s: float = 4 * 3600.0) -> None:
        self.reply_after_s, self.escalate_after_s = reply_after_s, escalate_after_s
        self.max_per_agent, self.max_total = max_per_agent, max_total
        self.forget_after_s = forget_after_s
        self._chats: dict[str, _Chat] = {}
        self._agents: dict[str, dict[str, _Chat]] = {}
        """Each agent's open conversations (an agent with none has no entry)."""

    def __len__(self) -> int:
        return len(self._chats)

    def __contains__(self, conversation: object) -> bool:
        return conversation in self._chats

    def owner(self, conversation: str) -> str | None:
        """The agent holding *conversation*, None if nobody here does."""
        chat = self._chats.get(conversation)
        return None if chat is None else chat.agent

    def apply(self, event: ChatEvent, agent: str | None, now: float, wall: float) -> str | None:
        """Apply one event; *agent* is the focuslight agent that owns the conversation after
        it (None: nobody here: unassigned, or a platform user not mapped). Returns why a
        new conversation was refused (a cap), else None."""
        kind, conversation = event.kind, event.conversation
        chat = self._chats.get(conversation)
        if kind == CLOSE or agent is None:
            if chat is not None:
                self._drop(conversation, chat)
            return None
        if chat is None:
            refused = self._refusal(agent)
            if refused:
                return refused
            chat = self._chats[conversation] = _Chat(agent, now)
            self._agents.setdefault(agent, {})[conversation] = chat
            if event.waiting_since:  # waited before it came here: by the platform's clock
                waited = min(max(0.0, wall - event.waiting_since), self.forget_after_s)
                chat.waiting, chat.waiting_wall = now - waited, wall - waited
        elif chat.agent != agent:  # transferred: the wait goes with the conversation
            self._drop(conversation, chat)
            chat.agent = agent
            self._chats[conversation] = chat
            self._agents.setdefault(agent, {})[conversation] = chat
        chat.touched = now
        if kind == CUSTOMER and chat.waiting is None:
            chat.waiting, chat.waiting_wall = now, wall
        elif kind == REPLY:
            chat.waiting = chat.waiting_wall = None
        return None

    def chats(self, agent: str) -> int:
        return len(self._agents.get(agent, ()))

    def attention(self, agent: str, now: float) -> Attention | None:
        """What *agent*'s chats ask: the open count, the oldest wait, the cue once it is due."""
        chats = self._agents.get(agent)
        if not chats:
            return None
        waits = [(c.waiting, c.waiting_wall) for c in chats.values() if c.waiting is not None]
        if not waits:
            return Attention(chats=len(chats))
        since, since_wall = min(waits)
        waited = now - since
        return Attention("reply_due" if waited >= self.reply_after_s else None, since_wall,
                         waited >= self.escalate_after_s, len(chats))

    def expire(self, now: float) -> None:
        """Drop conversations that heard nothing for ``forget_after_s``."""
        for conversation, chat in list(self._chats.items()):
            if now - chat.touched >= self.forget_after_s:
                self._drop(conversation, chat)

    def next_deadline(self, now: float) -> float | None:
        """When something changes by itself: a wait turning due or escalated, a conversation
        forgotten."""
        times = []
        for chat in self._chats.values():
            times.append(chat.touched + self.forget_after_s)
            if chat.waiting is not None:
                times += [chat.waiting + self.reply_after_s, chat.waiting + self.escalate_after_s]
        return min((t for t in times if t > now), default=None)

    def _refusal(self, agent: str) -> str | None:
        if len(self._chats) >= self.max_total:
            return f"{self.max_total} open conversations in all (max_conversations)"
        if self.chats(agent) >= self.max_per_agent:
            return (f"{agent} has {self.max_per_agent} open conversations"
                    " (max_conversations_per_agent)")
        return None

    def _drop(self, conversation: str, chat: _Chat) -> None:
        del self._chats[conversation]
        mine = self._agents[chat.agent]
        del mine[conversation]
        if not mine:
            del self._agents[chat.agent]
