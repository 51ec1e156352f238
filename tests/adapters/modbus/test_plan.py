"""Request planning: nearby points share a read within the gap fill and the 125-register limit,
tables are read apart, and the greedy plan uses as few reads as the best plan of consecutive
points (checked against dynamic programming on random maps)."""

from __future__ import annotations

from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from adapters.modbus.config import ModbusPoint
from adapters.modbus.plan import ReadRequest, plan_reads, split_request


def points(*specs: tuple[str, int, str]) -> list[ModbusPoint]:
    return [
        ModbusPoint.model_validate({"field": f"f{index}", "register": table, "address": address, "type": type_name})
        for index, (table, address, type_name) in enumerate(specs)
    ]


def test_neighbours_share_one_read_and_a_far_point_gets_its_own() -> None:
    plan = plan_reads(points(("holding", 0, "float32"), ("holding", 2, "uint16"), ("holding", 8, "int32"),
                             ("holding", 40, "uint16")), gap_fill=5)
    assert plan == [ReadRequest("holding", 0, 10, (0, 1, 2)), ReadRequest("holding", 40, 1, (3,))]


def test_gap_fill_zero_joins_only_adjacent_points() -> None:
    plan = plan_reads(points(("input", 0, "uint16"), ("input", 1, "uint16"), ("input", 3, "uint16")), gap_fill=0)
    assert [(r.address, r.count) for r in plan] == [(0, 2), (3, 1)]


def test_no_read_is_longer_than_125_registers_or_the_device_limit() -> None:
    many = points(*[("holding", address, "float64") for address in range(0, 400, 4)])
    assert max(r.count for r in plan_reads(many)) <= 125
    assert len(plan_reads(many)) == 4  # 31 float64 (124 registers) per read
    assert max(r.count for r in plan_reads(many, max_registers=16)) <= 16


def test_tables_are_read_apart_in_function_code_order() -> None:
    plan = plan_reads(points(("input", 0, "uint16"), ("coil", 0, "bool"), ("holding", 0, "uint16"),
                             ("discrete_input", 5, "bool"), ("coil", 7, "bool")))
    assert [(r.table, r.address, r.count) for r in plan] == [
        ("coil", 0, 8), ("discrete_input", 5, 1), ("holding", 0, 1), ("input", 0, 1)]


def test_two_fields_of_one_register_share_the_read() -> None:
    plan = plan_reads(points(("input", 0, "uint32"), ("input", 0, "uint32")))
    assert plan == [ReadRequest("input", 0, 2, (0, 1))]


def test_one_request_per_point_workaround() -> None:
    plan = plan_reads(points(("holding", 0, "uint16"), ("holding", 1, "float32")), one_per_point=True)
    assert [(r.address, r.count, r.points) for r in plan] == [(0, 1, (0,)), (1, 2, (1,))]


def test_split_gives_each_point_its_own_read() -> None:
    mapped = points(("holding", 0, "uint16"), ("holding", 4, "float32"))
    (joined,) = plan_reads(mapped)
    assert split_request(joined, mapped) == [ReadRequest("holding", 0, 1, (0,)), ReadRequest("holding", 4, 2, (1,))]


_TYPES = st.sampled_from(["uint16", "int32", "float32", "float64", "bool"])


@st.composite
def maps(draw: st.DrawFn) -> list[ModbusPoint]:
    specs = []
    for _ in range(draw(st.integers(1, 25))):
        table = draw(st.sampled_from(["coil", "holding", "input"]))
        type_name = "bool" if table == "coil" else draw(_TYPES.filter(lambda t: t != "bool"))
        specs.append((table, draw(st.integers(0, 400)), type_name))
    return points(*specs)


def fewest_reads(mapped: list[ModbusPoint], table: str, gap_fill: int, limit: int) -> int:
    """Dynamic programming over address-sorted points: the fewest groups of consecutive points."""
    members = sorted((p for p in mapped if p.table == table), key=lambda p: (p.address, p.end))

    def fits(first: int, last: int) -> bool:
        group = members[first:last + 1]
        end = group[0].end
        for member in group[1:]:
            if member.address - end > gap_fill:
                return False
            end = max(end, member.end)
        return end - group[0].address <= limit

    @cache
    def best(first: int) -> int:
        if first == len(members):
            return 0
        return min(1 + best(last + 1) for last in range(first, len(members)) if fits(first, last))

    return best(0)


@given(mapped=maps(), gap_fill=st.integers(0, 30), limit=st.integers(8, 125))
def test_every_point_is_read_whole_once_within_limits_in_the_fewest_reads(
    mapped: list[ModbusPoint], gap_fill: int, limit: int
) -> None:
    plan = plan_reads(mapped, gap_fill=gap_fill, max_registers=limit, max_bits=limit)
    served = [index for request in plan for index in request.points]
    assert sorted(served) == list(range(len(mapped)))
    for request in plan:
        assert request.count <= limit
        for index in request.points:
            assert mapped[index].table == request.table
            assert request.address <= mapped[index].address and mapped[index].end <= request.end
    for table in ("coil", "holding", "input"):
        assert len([r for r in plan if r.table == table]) == fewest_reads(mapped, table, gap_fill, limit)
