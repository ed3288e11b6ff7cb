"""A synthetic enterprise with ground truth: departments with login habits, plus lateral movement.

Each department has users, workstations and servers; users log in to their own workstation,
sometimes a colleague's, a few department servers and a few shared services; one admin per
department also reaches a server of another department; workstations talk to department
servers and services. The training period repeats these habits. The test period repeats them
too, adds a few benign new logins inside departments, and plants lateral-movement chains: a
compromised account hops from its workstation through hosts of other departments, each hop
logged as ``(account, host)`` and ``(previous host, host)``. The out-of-habit endpoint of every
planted event is its destination (position 1).
"""

from __future__ import annotations

import attrs
import numpy as np

from deepaid_sdk.checks import check_positive_int

Events = tuple[np.ndarray, np.ndarray, np.ndarray]


@attrs.frozen
class Enterprise:
    """Login events of a training and a test period, with the planted attacks marked."""

    train: Events = attrs.field(eq=False)
    """``(time, src, dst)`` arrays of the normal training period."""
    test: Events = attrs.field(eq=False)
    """``(time, src, dst)`` arrays of the test period (habits, benign novelties, attacks)."""
    malicious: np.ndarray = attrs.field(eq=False)
    """``[len(test)]`` bool: the event belongs to a planted lateral-movement chain."""
    chains: tuple[tuple[str, ...], ...]
    """Each chain as ``(account, start host, hop 1, hop 2, ...)``."""
    department: dict[str, int] = attrs.field(eq=False)
    """Node name -> department (-1 for shared services)."""

    def test_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Unique test edges ``[M, 2]`` (names, first orientation seen) and whether each is malicious."""
        _, s, d = self.test
        pairs = np.stack([s, d], axis=1)
        uniq, first = np.unique(pairs, axis=0, return_index=True)
        order = np.sort(first)
        return pairs[order], self.malicious[order]

    def chain_of(self, src: str, dst: str) -> tuple[str, ...] | None:
        """The planted chain that logged the event ``src -> dst``, if any."""
        for chain in self.chains:
            hops = chain[2:]
            if (src == chain[0] and dst in hops) or any(a == src and b == dst for a, b in zip(chain[1:], hops)):
                return chain
        return None


def _names(prefix: str, count: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(count).astype(str), width))


@attrs.frozen
class _Layout:
    """Who and what is where: node names, their departments, and each user's own workstation."""

    d_count: int
    u_per: int
    w_per: int
    s_per: int
    n_svc: int
    users: np.ndarray
    hosts: np.ndarray
    """Workstations first, then servers."""
    svcs: np.ndarray
    u_dept: np.ndarray
    ws_dept: np.ndarray
    srv_dept: np.ndarray
    own_local: np.ndarray
    """Per user: the index of its own workstation inside its department."""

    @property
    def n_users(self) -> int:
        return self.users.size

    @property
    def n_ws(self) -> int:
        return self.ws_dept.size

    @property
    def n_srv(self) -> int:
        return self.srv_dept.size

    def ws(self, dept: np.ndarray, local: np.ndarray) -> np.ndarray:
        return self.hosts[dept * self.w_per + local]

    def srv(self, dept: np.ndarray, local: np.ndarray) -> np.ndarray:
        return self.hosts[self.n_ws + dept * self.s_per + local]


def _layout(d_count: int, u_per: int, w_per: int, s_per: int, n_svc: int) -> _Layout:
    n_users, n_ws, n_srv = d_count * u_per, d_count * w_per, d_count * s_per
    width = len(str(max(n_users, n_ws + n_srv)))
    return _Layout(
        d_count=d_count,
        u_per=u_per,
        w_per=w_per,
        s_per=s_per,
        n_svc=n_svc,
        users=_names("U", n_users, width),
        hosts=_names("C", n_ws + n_srv, width),
        svcs=_names("S", n_svc, len(str(n_svc))),
        u_dept=np.arange(n_users) // u_per,
        ws_dept=np.arange(n_ws) // w_per,
        srv_dept=np.arange(n_srv) // s_per,
        own_local=(np.arange(n_users) % u_per) % w_per,
    )


def _habits(lay: _Layout, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of the habitual edges: logins of users and admins, workstation and server traffic."""
    users, hosts, svcs, u_dept = lay.users, lay.hosts, lay.svcs, lay.u_dept
    n_users, n_ws, n_srv, w_per, s_per, n_svc = lay.n_users, lay.n_ws, lay.n_srv, lay.w_per, lay.s_per, lay.n_svc
    uid = np.arange(n_users)
    src, dst = [users], [lay.ws(u_dept, lay.own_local)]
    colleague = rng.random(n_users) < 0.5
    src.append(users[colleague])
    dst.append(lay.ws(u_dept[colleague], rng.integers(0, w_per, colleague.sum())))
    for _ in range(2):
        src.append(users)
        dst.append(lay.srv(u_dept, rng.integers(0, s_per, n_users)))
        src.append(users)
        dst.append(svcs[rng.integers(0, n_svc, n_users)])
    admins = uid[uid % lay.u_per == 0]
    for local in range(s_per):
        src.append(users[admins])
        dst.append(lay.srv(u_dept[admins], np.full(admins.size, local)))
    other = (u_dept[admins] + rng.integers(1, lay.d_count, admins.size)) % lay.d_count
    src.append(users[admins])
    dst.append(lay.srv(other, rng.integers(0, s_per, admins.size)))
    src.append(hosts[:n_ws])
    dst.append(lay.srv(lay.ws_dept, rng.integers(0, s_per, n_ws)))
    src.append(hosts[:n_ws])
    dst.append(svcs[rng.integers(0, n_svc, n_ws)])
    src.append(hosts[n_ws:])
    dst.append(svcs[rng.integers(0, n_svc, n_srv)])
    return np.concatenate(src), np.concatenate(dst)


def _repeat(rng: np.random.Generator, s: np.ndarray, d: np.ndarray, rate: float, start: float) -> Events:
    """Each edge logged ``1 + Poisson(rate - 1)`` times at uniform times in ``[start, start + 1)``."""
    k = 1 + rng.poisson(max(rate - 1.0, 0.0), s.size)
    return (start + rng.random(int(k.sum())), np.repeat(s, k), np.repeat(d, k))


def _plant_chain(lay: _Layout, rng: np.random.Generator, victim: int, length: int) -> list[str]:
    """One lateral-movement path: the victim account, its workstation, then ``length`` hosts of other departments."""
    dept = lay.u_dept[victim]
    path = [lay.users[victim], str(lay.ws(np.array([dept]), np.array([lay.own_local[victim]]))[0])]
    for _ in range(length):
        target_dept = (dept + rng.integers(1, lay.d_count)) % lay.d_count
        is_server = rng.random() < 0.5
        local = rng.integers(0, lay.s_per if is_server else lay.w_per)
        host = (
            lay.srv(np.array([target_dept]), np.array([local]))[0]
            if is_server
            else lay.ws(np.array([target_dept]), np.array([local]))[0]
        )
        path.append(str(host))
    return path


def _departments(lay: _Layout) -> dict[str, int]:
    """Node name -> department (-1 for shared services)."""
    n_ws = lay.n_ws
    return {
        **dict(zip(lay.users.tolist(), lay.u_dept.tolist())),
        **dict(zip(lay.hosts[:n_ws].tolist(), lay.ws_dept.tolist())),
        **dict(zip(lay.hosts[n_ws:].tolist(), lay.srv_dept.tolist())),
        **{s: -1 for s in lay.svcs.tolist()},
    }


def enterprise(
    *,
    departments: int = 8,
    users_per_department: int = 30,
    workstations_per_department: int = 20,
    servers_per_department: int = 4,
    services: int = 6,
    chains: int = 12,
    chain_length: int = 3,
    events_per_edge: float = 4.0,
    seed: int = 0,
) -> Enterprise:
    """Generate the enterprise; every array operation is vectorised, so a million edges is quick."""
    d_count = check_positive_int(departments, "departments", minimum=2)
    u_per, w_per = (
        check_positive_int(users_per_department, "users_per_department"),
        check_positive_int(workstations_per_department, "workstations_per_department"),
    )
    s_per, n_svc = (
        check_positive_int(servers_per_department, "servers_per_department"),
        check_positive_int(services, "services"),
    )
    n_chains = check_positive_int(chains, "chains", minimum=0)
    length = check_positive_int(chain_length, "chain_length")
    if n_chains > d_count * u_per:
        raise ValueError(f"chains: expected at most one chain per user ({d_count * u_per}); got {n_chains}")
    rng = np.random.default_rng(check_positive_int(seed, "seed", minimum=0))
    lay = _layout(d_count, u_per, w_per, s_per, n_svc)
    # The order of the draws below is the generator's contract: the same seed, the same enterprise.
    habit_src, habit_dst = _habits(lay, rng)
    train = _repeat(rng, habit_src, habit_dst, float(events_per_edge), 0.0)

    again = rng.random(habit_src.size) < 0.3
    t_src, t_dst, t_bad = [habit_src[again]], [habit_dst[again]], [np.zeros(int(again.sum()), bool)]
    novel = np.arange(lay.n_users)[rng.random(lay.n_users) < 0.1]
    t_src.append(lay.users[novel])
    t_dst.append(lay.ws(lay.u_dept[novel], rng.integers(0, w_per, novel.size)))
    t_bad.append(np.zeros(novel.size, bool))

    chain_list = []
    victims = rng.choice(lay.n_users, size=n_chains, replace=False)
    for v in victims:  # attack planting: a handful of chains, not a hot path
        path = _plant_chain(lay, rng, v, length)
        chain_list.append(tuple(path))
        hops = path[2:]
        t_src.append(np.array([path[0]] * len(hops) + path[1:-1]))
        t_dst.append(np.array(hops + hops))
        t_bad.append(np.ones(2 * len(hops), bool))
    test_src, test_dst = np.concatenate(t_src), np.concatenate(t_dst)
    malicious = np.concatenate(t_bad)
    times = 1.0 + rng.random(test_src.size)
    return Enterprise(
        train=train,
        test=(times, test_src, test_dst),
        malicious=malicious,
        chains=tuple(chain_list),
        department=_departments(lay),
    )
