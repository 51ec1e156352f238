"""Request planning: the fewest reads that cover every point of a device's map. Points of one
register table are sorted by address and joined greedily into one read while the unused
registers between them stay within the gap fill and the read within the protocol's limit (125
registers, 2000 bits) or the device's own. Greedy joining of address-sorted points gives the
fewest reads among plans that read consecutive points together (a window that fits shrinks to one
that fits when its first point is dropped), which the tests check against dynamic programming."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.modbus.config import BIT_TABLES, MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, ModbusPoint

#: Order in which the tables are read: the order of their function codes (1, 2, 3, 4).
TABLE_ORDER: tuple[str, ...] = ("coil", "discrete_input", "holding", "input")


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read: `count` registers (or bits) of `table` from `address`, and the points it
    serves as indexes into the point map."""

    table: str
    address: int
    count: int
    points: tuple[int, ...]

    @property
    def end(self) -> int:
        """The address just past the read."""
        return self.address + self.count


def plan_reads(
    points: Sequence[ModbusPoint],
    *,
    gap_fill: int = 10,
    max_registers: int = MAX_REGISTERS_PER_READ,
    max_bits: int = MAX_BITS_PER_READ,
    one_per_point: bool = False,
) -> list[ReadRequest]:
    """The reads for `points`: per table in function-code order, by address.

    `gap_fill` is the most unused registers (bits) one read may span between two points;
    `one_per_point` gives every point a read of its own."""
    requests: list[ReadRequest] = []
    for table in TABLE_ORDER:
        members = sorted(
            (index for index, point in enumerate(points) if point.table == table),
            key=lambda index: (points[index].address, points[index].end),
        )
        limit = max_bits if table in BIT_TABLES else max_registers
        start = end = 0
        group: list[int] = []
        for index in members:
            point = points[index]
            if group and not one_per_point:
                joined_end = max(end, point.end)
                if point.address - end <= gap_fill and joined_end - start <= limit:
                    group.append(index)
                    end = joined_end
                    continue
            if group:
                requests.append(ReadRequest(table, start, end - start, tuple(group)))
            group, start, end = [index], point.address, point.end
        if group:
            requests.append(ReadRequest(table, start, end - start, tuple(group)))
    return requests


def split_request(request: ReadRequest, points: Sequence[ModbusPoint]) -> list[ReadRequest]:
    """One read per point of `request`: used when the device refuses the joined read with an
    exception, to find the point it objects to and keep reading the others."""
    return [
        ReadRequest(request.table, points[index].address, points[index].register_count, (index,))
        for index in request.points
    ]
