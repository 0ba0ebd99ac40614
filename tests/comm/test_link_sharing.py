"""Unit tests: flows crossing one link share its bandwidth; opposite directions do not."""

from __future__ import annotations

import networkx as nx
import pytest

from fleetsim.comm import collective_time, flow_rates
from fleetsim.topology import Router, add_link, add_vertex

B = 10e9


@pytest.fixture
def dumbbell() -> nx.DiGraph:
    """a, c -- s1 ==(B)== s2 -- b, d ; host links 4B so the s1-s2 link is the bottleneck."""
    graph = nx.DiGraph(routing="shortest")
    add_vertex(graph, "s1", "switch")
    add_vertex(graph, "s2", "switch")
    add_link(graph, "s1", "s2", B, 1e-6)
    for host, switch in (("a", "s1"), ("c", "s1"), ("b", "s2"), ("d", "s2")):
        add_vertex(graph, host, "gpu")
        add_link(graph, host, switch, 4 * B, 1e-6)
    return graph


def test_two_flows_on_one_link_get_half_each(dumbbell):
    router = Router(dumbbell)
    assert flow_rates(router, [("a", "b")]) == [pytest.approx(B)]
    assert flow_rates(router, [("a", "b"), ("c", "d")]) == [pytest.approx(B / 2)] * 2


def test_opposite_directions_do_not_share(dumbbell):
    assert flow_rates(Router(dumbbell), [("a", "b"), ("d", "c")]) == [pytest.approx(B)] * 2


def test_gpus_do_not_relay_traffic(dumbbell):
    add_link(dumbbell, "a", "c", B, 1e-6)  # a shortcut through a GPU must not be used
    assert Router(dumbbell).path("b", "c") == ("b", "s2", "s1", "c")


def test_a_collective_sees_the_shared_link(dumbbell):
    """Ring all-gather over a, c, b, d: in every step the flows c->b and d->a both cross the
    s1-s2 bottleneck, one per direction, so each runs at B; over a, b, c, d every flow does
    (a->b, c->d one way, b->c, d->a the other): two per direction, B/2 each, so the bandwidth
    term doubles."""
    size = 1e9
    bandwidth_term = {}
    for order in (["a", "c", "b", "d"], ["a", "b", "c", "d"]):
        big = collective_time("all-gather", "ring", size, order, dumbbell)
        small = collective_time("all-gather", "ring", 0.0, order, dumbbell)
        bandwidth_term[tuple(order)] = big - small
    ratio = bandwidth_term[("a", "b", "c", "d")] / bandwidth_term[("a", "c", "b", "d")]
    assert ratio == pytest.approx(2.0, rel=1e-9)
