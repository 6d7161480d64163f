"""Pools that follow demand: the size a pool aims for, from the runs it sees."""

from sandbox.demand import WINDOW_S, Demand


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_idle_a_pool_keeps_its_floor() -> None:
    assert Demand(floor=2, ceiling=8, clock=Clock()).target() == 2


def test_busy_it_grows_with_the_rate_and_the_start_time_up_to_its_ceiling() -> None:
    clock = Clock()
    demand = Demand(floor=2, ceiling=8, clock=clock)
    demand.start_s = 0.5
    for _ in range(100):  # 10 runs a second
        demand.note_run()
        clock.now += 0.1
    # 10 a second, 0.5 s a start, 1.5 of headroom: 7.5, so 8, plus one, within 8.
    assert demand.target() == 8
    demand = Demand(floor=2, ceiling=20, clock=clock)
    demand.start_s = 0.5
    for _ in range(100):
        demand.note_run()
        clock.now += 0.1
    assert demand.target() == 9


def test_after_a_quiet_spell_it_falls_back_to_its_floor() -> None:
    clock = Clock()
    demand = Demand(floor=1, ceiling=8, clock=clock)
    for _ in range(50):
        demand.note_run()
        clock.now += 0.05
    assert demand.target() > 1
    clock.now += WINDOW_S + 1
    assert demand.target() == 1


def test_start_times_are_learned() -> None:
    demand = Demand(floor=0, ceiling=4, clock=Clock())
    for _ in range(30):
        demand.note_start(1.0)
    assert 0.95 < demand.start_s <= 1.0
