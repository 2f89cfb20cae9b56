"""Load and check the IVR flow file and the prompts file.

Errors name the file, the line of the node's ``[nodes.X]`` header and the field, like the
reference data loader does, and the flow is rejected whole.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hotline.refdata.files import DataError, DataErrors, read_csv
from ivr.say import word_keys

NodeType = Literal["menu", "collect", "action", "play", "route"]
INTENTS = ("report", "emergency", "status", "unknown")
MAX_GREETING_MS = 5000  # the greeting: at most 5 s of waiting for a key
MAX_TIMEOUT_MS = 15000
_KEYS = re.compile(r"^[0-9*#]$")


@dataclass(frozen=True)
class Node:
    id: str
    type: NodeType
    prompt: str = ""
    invalid_prompt: str = ""
    timeout_ms: int = 3000
    retries: int = 0
    max_digits: int = 1
    choices: dict[str, str] = field(default_factory=dict)
    default: str = ""
    var: str = ""
    check: str = ""
    next: str = ""
    fallback: str = ""
    action: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)
    intent: str = "unknown"


@dataclass(frozen=True)
class Prompt:
    key: str
    zh_cn: str
    en: str


@dataclass(frozen=True)
class Flow:
    start: str
    nodes: dict[str, Node]
    prompts: dict[str, Prompt]
    history_days: int = 90
    language: str = "zh"  # the prompts' folder and the channel's language (CHANNEL(language))


LANGUAGES = ("zh", "en")
_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required, optional)
    "menu": ({"prompt", "choices", "default"}, {"timeout_ms", "retries"}),
    "collect": (
        {"prompt", "max_digits", "var", "next", "fallback"},
        {"timeout_ms", "retries", "check", "invalid_prompt"},
    ),
    "action": ({"action", "outcomes"}, set()),
    "play": ({"prompt", "next"}, set()),
    "route": ({"intent"}, set()),
}
_TARGETS = ("default", "next", "fallback")


def load_flow(flow_path: Path, prompts_path: Path, actions: dict[str, tuple[str, ...]]) -> Flow:
    """Read both files; ``actions`` maps each known action (or check) to its outcomes."""
    errors: list[DataError] = []
    prompts = _load_prompts(prompts_path, errors)
    name = flow_path.name
    try:
        text = flow_path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except FileNotFoundError:
        raise DataErrors([DataError(name, None, None, "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else None
        raise DataErrors([DataError(name, line, None, f"invalid TOML: {exc}")]) from exc

    def line_of(node_id: str) -> int | None:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() == f"[nodes.{node_id}]":
                return number
        return None

    raw_nodes = document.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise DataErrors([*errors, DataError(name, None, "nodes", "no [nodes.*] tables")])
    nodes: dict[str, Node] = {}
    for node_id, raw in raw_nodes.items():
        node = _node(name, line_of(node_id), node_id, raw, errors)
        if node is not None:
            nodes[node_id] = node
    start = document.get("start")
    if start not in raw_nodes:
        errors.append(DataError(name, None, "start", f"unknown node {start!r}"))
    for node in nodes.values():
        _check_links(name, line_of(node.id), node, raw_nodes, prompts, actions, errors)
    if isinstance(start, str) and start in nodes:
        greeting = nodes[start]
        if greeting.timeout_ms > MAX_GREETING_MS:
            errors.append(
                DataError(
                    name,
                    line_of(start),
                    "timeout_ms",
                    f"the first node waits at most {MAX_GREETING_MS} ms",
                )
            )
    history_days = document.get("history_days", 90)
    if not isinstance(history_days, int) or not 0 <= history_days <= 3660:
        errors.append(DataError(name, None, "history_days", "a number of days, 0 to 3660"))
    language = document.get("language", "zh")
    if language not in LANGUAGES:
        errors.append(DataError(name, None, "language", f"one of {', '.join(LANGUAGES)}"))
    if prompts:
        missing = [key for key in word_keys() if key not in prompts]
        if missing:
            errors.append(
                DataError(
                    prompts_path.name,
                    None,
                    "key",
                    f"the words of numbers and dates are missing: {', '.join(missing[:5])}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
                )
            )
    if errors:
        raise DataErrors(errors)
    assert isinstance(start, str) and isinstance(history_days, int)
    assert isinstance(language, str)
    return Flow(start, nodes, prompts, history_days, language)


def _node(
    file: str, line: int | None, node_id: str, raw: Any, errors: list[DataError]
) -> Node | None:
    if not isinstance(raw, dict):
        errors.append(DataError(file, line, node_id, "must be a table"))
        return None
    kind = raw.get("type")
    if kind not in _FIELDS:
        errors.append(DataError(file, line, "type", f"one of {', '.join(_FIELDS)}"))
        return None
    required, optional = _FIELDS[kind]
    for missing in sorted(required - raw.keys()):
        errors.append(DataError(file, line, missing, "required"))
    for unknown in sorted(raw.keys() - required - optional - {"type"}):
        errors.append(DataError(file, line, unknown, f"not a field of a {kind} node"))
    values = {k: v for k, v in raw.items() if k in required | optional}
    for key in ("timeout_ms", "retries", "max_digits"):
        if key in values and not isinstance(values[key], int):
            errors.append(DataError(file, line, key, "must be a whole number"))
            return None
    if not 0 < values.get("timeout_ms", 3000) <= MAX_TIMEOUT_MS:
        errors.append(DataError(file, line, "timeout_ms", f"1 to {MAX_TIMEOUT_MS}"))
    if not 0 <= values.get("retries", 0) <= 3:
        errors.append(DataError(file, line, "retries", "0 to 3"))
    if not 1 <= values.get("max_digits", 1) <= 20:
        errors.append(DataError(file, line, "max_digits", "1 to 20"))
    if kind == "route" and values.get("intent") not in INTENTS:
        errors.append(DataError(file, line, "intent", f"one of {', '.join(INTENTS)}"))
    for key in ("choices", "outcomes"):
        if key in values and not isinstance(values[key], dict):
            errors.append(DataError(file, line, key, "must be a table"))
            return None
    for digit in values.get("choices", {}):
        if not _KEYS.match(digit):
            errors.append(DataError(file, line, "choices", f"{digit!r} is not a phone key"))
    try:
        return Node(id=node_id, type=kind, **values)
    except TypeError as exc:
        errors.append(DataError(file, line, None, str(exc)))
        return None


def _check_links(
    file: str,
    line: int | None,
    node: Node,
    nodes: dict[str, Any],
    prompts: dict[str, Prompt],
    actions: dict[str, tuple[str, ...]],
    errors: list[DataError],
) -> None:
    for key in _TARGETS:
        target = getattr(node, key)
        if target and target not in nodes:
            errors.append(DataError(file, line, key, f"unknown node {target!r}"))
    for key, targets in (("choices", node.choices), ("outcomes", node.outcomes)):
        for target in targets.values():
            if target not in nodes:
                errors.append(DataError(file, line, key, f"unknown node {target!r}"))
    for key in ("prompt", "invalid_prompt"):
        prompt = getattr(node, key)
        if prompt and prompts and prompt not in prompts:
            errors.append(DataError(file, line, key, f"no prompt {prompt!r} in prompts.csv"))
    for key in ("action", "check"):
        action = getattr(node, key)
        if action and action not in actions:
            errors.append(DataError(file, line, key, f"unknown action {action!r}"))
    if node.type == "action" and node.action in actions:
        for outcome in actions[node.action]:
            if outcome not in node.outcomes:
                errors.append(DataError(file, line, "outcomes", f"no node for {outcome!r}"))


def _load_prompts(path: Path, errors: list[DataError]) -> dict[str, Prompt]:
    prompts: dict[str, Prompt] = {}
    for row in read_csv(path, ("key", "zh_CN", "en"), errors):
        key = row.values["key"]
        if not re.fullmatch(r"[a-z0-9_]{1,48}", key):
            errors.append(DataError(row.file, row.line, "key", "lower-case letters, digits, _"))
        elif key in prompts:
            errors.append(DataError(row.file, row.line, "key", "duplicate"))
        elif not row.values["zh_CN"]:
            errors.append(DataError(row.file, row.line, "zh_CN", "text required"))
        else:
            prompts[key] = Prompt(key, row.values["zh_CN"], row.values["en"])
    return prompts
