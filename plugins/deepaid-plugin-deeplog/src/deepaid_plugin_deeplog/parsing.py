"""Log lines to key ids with drain3, and key sequences grouped into sessions by an id pattern.

Key ids: 0 is ``<pad>`` (left padding of short sessions), 1 is ``<unknown>`` (a line that matched
no learned template), and each drain3 cluster ``c`` (ids from 1) is key ``c + 1``.
"""

from __future__ import annotations

import json
import pathlib
import re
import warnings
from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np
from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

PAD_KEY = 0
UNKNOWN_KEY = 1
RESERVED_TEMPLATES = {PAD_KEY: "<pad>", UNKNOWN_KEY: "<unknown>"}
#: HDFS block ids, the session key of the HDFS logs DeepLog was evaluated on.
HDFS_BLOCK_ID = r"blk_-?\d+"
#: Header of an HDFS log line (date, time, pid, level, component); the rest is the content.
HDFS_HEADER = r"^\d{6} \d{6} \d+ [A-Z]+ \S+: (?P<content>.*)$"

MATCH_STRATEGIES = ("never", "fallback", "always")
#: ``format`` of a saved parser (``LogKeyParser.save``).
PARSER_FORMAT = "deepaid-deeplog-parser/1"

#: Masks applied before mining when no config is given: block ids, IPs (with port), numbers.
#: Without them a template mined from one line keeps its literal ids and new lines fail to match.
DEFAULT_MASKING: tuple[tuple[str, str], ...] = (
    (r"blk_-?\d+", "BLK"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(:\d+)?((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
)


def default_config() -> TemplateMinerConfig:
    """drain3's defaults plus ``DEFAULT_MASKING`` (no .ini file is read)."""
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in DEFAULT_MASKING]
    return config


class LogKeyParser:
    """Mines log templates with drain3 and maps lines to key ids.

    ``fit_transform`` learns templates (drain3 ``add_log_message``); ``transform`` only matches
    against them (drain3 ``match``): a line that matches none gets ``UNKNOWN_KEY``, and the lines
    are counted and warned about, never dropped.

    :param content_pattern: regex with a ``content`` group that strips a header (e.g. ``HDFS_HEADER``);
        a line it does not match is mined whole (counted in ``header_misses``).
    :param config: a drain3 ``TemplateMinerConfig``; by default ``default_config()``.
    :param match_strategy: drain3's ``full_search_strategy`` for ``transform``.
    """

    def __init__(
        self,
        *,
        content_pattern: str | None = None,
        config: TemplateMinerConfig | None = None,
        match_strategy: str = "fallback",
    ) -> None:
        if config is not None and not isinstance(config, TemplateMinerConfig):
            raise TypeError(f"config: expected a drain3 TemplateMinerConfig; got {type(config).__name__}")
        if match_strategy not in MATCH_STRATEGIES:
            raise ValueError(f"match_strategy: expected one of {MATCH_STRATEGIES}; got {match_strategy!r}")
        try:
            self._content_re = re.compile(content_pattern) if content_pattern is not None else None
        except re.error as exc:
            raise ValueError(f"content_pattern: not a valid regex ({exc})") from None
        if self._content_re is not None and "content" not in self._content_re.groupindex:
            raise ValueError("content_pattern: expected a named group (?P<content>...)")
        self.miner = TemplateMiner(config=config if config is not None else default_config())
        self.match_strategy = match_strategy
        self.header_misses = 0
        self.unmatched = 0
        """Lines of the last ``transform`` call that matched no template."""

    def _content(self, line: str) -> str:
        if self._content_re is None:
            return line
        m = self._content_re.match(line)
        if m is None:
            self.header_misses += 1
            return line
        return m.group("content")

    @staticmethod
    def _lines(lines: Iterable[str], name: str = "lines") -> list[str]:
        if isinstance(lines, (str, bytes)):
            raise TypeError(f"{name}: expected an iterable of log lines; got a single {type(lines).__name__}")
        out = list(lines)
        if not out:
            raise ValueError(f"{name}: no log lines to parse")
        for i, line in enumerate(out):
            if not isinstance(line, str):
                raise TypeError(f"{name}[{i}]: expected a str; got {type(line).__name__}: {line!r}")
        return [line.rstrip("\r\n") for line in out]

    def fit_transform(self, lines: Iterable[str]) -> np.ndarray:
        """Learn templates from ``lines`` and return their key ids ``[n]`` (int64)."""
        misses = self.header_misses
        keys = np.asarray(
            [self.miner.add_log_message(self._content(line))["cluster_id"] + 1 for line in self._lines(lines)],
            dtype=np.int64,
        )
        self._warn_header(misses)
        return keys

    def transform(self, lines: Iterable[str]) -> np.ndarray:
        """Key ids ``[n]`` of ``lines`` by matching learned templates; unmatched lines get ``UNKNOWN_KEY``."""
        if not self.miner.drain.clusters:
            raise ValueError("transform: no templates learned yet; call fit_transform on training lines first")
        misses = self.header_misses
        found = []
        for line in self._lines(lines):
            cluster = self.miner.match(self._content(line), full_search_strategy=self.match_strategy)
            found.append(UNKNOWN_KEY if cluster is None else cluster.cluster_id + 1)
        keys = np.asarray(found, dtype=np.int64)
        self.unmatched = int((keys == UNKNOWN_KEY).sum())
        if self.unmatched:
            warnings.warn(
                f"{self.unmatched} of {len(keys)} log lines matched no learned template; "
                f"they get key {UNKNOWN_KEY} {RESERVED_TEMPLATES[UNKNOWN_KEY]}",
                stacklevel=2,
            )
        self._warn_header(misses)
        return keys

    def _warn_header(self, before: int) -> None:
        if self.header_misses > before:
            warnings.warn(
                f"{self.header_misses - before} log lines did not match content_pattern; their whole text was parsed",
                stacklevel=3,
            )

    # -- as data: the learned templates without pickle -------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The parser as JSON-safe data: its settings, clusters and drain3's prefix tree.

        The tree is kept as it is, not rebuilt from the templates: drain3 files a cluster under the
        tokens of its *first* line, so re-adding final templates could route a line elsewhere.
        """
        drain = self.miner.drain
        config = self.miner.config

        def node(n: Any) -> dict[str, Any]:
            return {
                "clusters": list(n.cluster_ids),
                "children": {token: node(child) for token, child in n.key_to_child_node.items()},
            }

        return {
            "format": PARSER_FORMAT,
            "content_pattern": None if self._content_re is None else self._content_re.pattern,
            "match_strategy": self.match_strategy,
            "config": {
                "sim_th": config.drain_sim_th,
                "depth": config.drain_depth,
                "max_children": config.drain_max_children,
                "max_clusters": config.drain_max_clusters,
                "extra_delimiters": list(config.drain_extra_delimiters),
                "parametrize_numeric_tokens": config.parametrize_numeric_tokens,
                "mask_prefix": config.mask_prefix,
                "mask_suffix": config.mask_suffix,
                "masking": [[m.pattern, m.mask_with] for m in config.masking_instructions],
            },
            "clusters_counter": drain.clusters_counter,
            "clusters": [[c.cluster_id, list(c.log_template_tokens), c.size] for c in drain.clusters],
            "tree": node(drain.root_node),
        }

    def save(self, path: str | pathlib.Path) -> None:
        """Write ``to_dict()`` as JSON: what ``deepaid explain deeplog --option parser=FILE`` reads."""
        pathlib.Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogKeyParser:
        """A parser that matches lines exactly as the one ``to_dict`` was taken from."""
        from drain3.drain import LogCluster, Node

        if not isinstance(data, Mapping) or data.get("format") != PARSER_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"parser: expected a saved LogKeyParser (format {PARSER_FORMAT!r}); got {found!r}")
        try:
            c = data["config"]
            config = TemplateMinerConfig()
            config.drain_sim_th, config.drain_depth = float(c["sim_th"]), int(c["depth"])
            config.drain_max_children, config.drain_max_clusters = int(c["max_children"]), c["max_clusters"]
            config.drain_extra_delimiters = list(c["extra_delimiters"])
            config.parametrize_numeric_tokens = bool(c["parametrize_numeric_tokens"])
            config.mask_prefix, config.mask_suffix = c["mask_prefix"], c["mask_suffix"]
            config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in c["masking"]]
            parser = cls(content_pattern=data["content_pattern"], config=config, match_strategy=data["match_strategy"])
            drain = parser.miner.drain
            for cluster_id, tokens, size in data["clusters"]:
                cluster = LogCluster(list(tokens), int(cluster_id))
                cluster.size = int(size)
                drain.id_to_cluster[int(cluster_id)] = cluster
            drain.clusters_counter = int(data["clusters_counter"])

            def node(d: Mapping[str, Any]) -> Any:
                n = Node()
                n.cluster_ids = [int(i) for i in d["clusters"]]
                n.key_to_child_node = {token: node(child) for token, child in d["children"].items()}
                return n

            drain.root_node = node(data["tree"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"parser: a malformed saved parser ({type(exc).__name__}: {exc})") from None
        return parser

    @classmethod
    def load(cls, path: str | pathlib.Path) -> LogKeyParser:
        """Read a parser written by ``save`` (JSON; nothing is unpickled)."""
        p = pathlib.Path(path)
        if not p.is_file():
            raise ValueError(f"parser: no such file {str(p)!r}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"parser: {str(p)!r} is not JSON ({exc})") from None
        return cls.from_dict(data)

    @property
    def templates(self) -> dict[int, str]:
        """Key id -> template, the reserved keys included."""
        mined = {c.cluster_id + 1: c.get_template() for c in self.miner.drain.clusters}
        return {**RESERVED_TEMPLATES, **dict(sorted(mined.items()))}

    @property
    def num_keys(self) -> int:
        """Size of the key space (C): reserved keys plus every template learned so far."""
        return max(self.templates) + 1


@attrs.frozen
class Sessions:
    """Key sequences grouped by session id, in order of first appearance."""

    ids: tuple[str, ...]
    keys: tuple[np.ndarray, ...] = attrs.field(eq=False)
    """Per session, its key ids in line order."""
    lines: tuple[np.ndarray, ...] = attrs.field(eq=False)
    """Per session, the indices of its lines."""
    orphans: int
    """Lines that hold no session id (reported, not assigned)."""

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.ids)}


def group_sessions(lines: Sequence[str], keys: Any, pattern: str = HDFS_BLOCK_ID) -> Sessions:
    """Group line keys into sessions by the ids ``pattern`` finds in each line.

    A line naming several distinct ids belongs to each of them; a line naming none is counted in
    ``orphans`` and warned about.
    """
    keys = np.asarray(keys)
    if keys.ndim != 1 or len(keys) != len(lines):
        raise ValueError(f"keys: expected one key per line ({len(lines)}); got shape {list(keys.shape)}")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern: not a valid regex ({exc})") from None
    members: dict[str, list[int]] = {}
    orphans = 0
    for i, line in enumerate(lines):
        found = dict.fromkeys(regex.findall(line))
        if not found:
            orphans += 1
        for sid in found:
            if not isinstance(sid, str):
                raise ValueError("pattern: use non-capturing groups (?:...); findall returned tuples")
            members.setdefault(sid, []).append(i)
    if orphans:
        warnings.warn(
            f"{orphans} of {len(lines)} log lines hold no session id matching {pattern!r}; they belong to no session",
            stacklevel=2,
        )
    index = tuple(np.asarray(v, dtype=np.int64) for v in members.values())
    return Sessions(
        ids=tuple(members), keys=tuple(keys[i].astype(np.int64) for i in index), lines=index, orphans=orphans
    )


@attrs.frozen
class ParsedLog:
    """A parsed log file: line keys, templates and sessions."""

    keys: np.ndarray = attrs.field(eq=False)
    templates: dict[int, str]
    sessions: Sessions
    unmatched: int
    """Lines that matched no template (given ``UNKNOWN_KEY``)."""
    blank: int
    """Empty lines (skipped, counted)."""


def read_log_lines(path: Any) -> tuple[list[str], int]:
    """Non-blank lines of a text file and the number of blank ones; an empty file is an error."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise ValueError(f"path: no log file at {str(p)!r}")
    raw = p.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = [line for line in raw if line.strip()]
    if not lines:
        raise ValueError(f"path: the log file {str(p)!r} is empty (no non-blank lines)")
    blank = len(raw) - len(lines)
    if blank:
        warnings.warn(f"{blank} blank lines in {str(p)!r} were skipped", stacklevel=2)
    return lines, blank


def parse_log_file(
    path: Any,
    parser: LogKeyParser | None = None,
    *,
    learn: bool = True,
    session_pattern: str = HDFS_BLOCK_ID,
) -> ParsedLog:
    """Parse a log file into keys and sessions; ``learn=False`` only matches ``parser``'s templates."""
    lines, blank = read_log_lines(path)
    parser = parser if parser is not None else LogKeyParser()
    if not isinstance(parser, LogKeyParser):
        raise TypeError(f"parser: expected a LogKeyParser; got {type(parser).__name__}")
    keys = parser.fit_transform(lines) if learn else parser.transform(lines)
    unmatched = int((keys == UNKNOWN_KEY).sum())
    return ParsedLog(
        keys=keys,
        templates=parser.templates,
        sessions=group_sessions(lines, keys, session_pattern),
        unmatched=unmatched,
        blank=blank,
    )
