"""The writer's queue: bounded, FIFO, taken in batches, producers woken per batch."""

from __future__ import annotations

import threading
import time
from typing import List

from requestcov.store.batchqueue import BatchQueue


def test_items_come_out_in_order_in_batches_of_at_most_the_asked_size() -> None:
    queue = BatchQueue(100)
    for number in range(10):
        assert queue.put(number)
    assert queue.take(4) == [0, 1, 2, 3]
    assert queue.take(100) == [4, 5, 6, 7, 8, 9]
    assert queue.take(5, timeout=0) == []


def test_a_full_queue_refuses_after_the_timeout_and_at_once_with_zero() -> None:
    queue = BatchQueue(2)
    assert queue.put("a") and queue.put("b")
    started = time.monotonic()
    assert queue.put("c", timeout=0.2) is False
    assert 0.15 <= time.monotonic() - started < 5
    assert queue.put("c", timeout=0) is False
    assert queue.qsize() == 2


def test_take_waits_for_the_first_item() -> None:
    queue = BatchQueue(10)
    threading.Timer(0.1, queue.put, args=("late",)).start()
    assert queue.take(5, timeout=10) == ["late"]
    assert queue.take(5, timeout=0.05) == []


def test_a_blocked_producer_wakes_only_once_a_batch_of_room_is_free() -> None:
    queue = BatchQueue(10, room=4)
    for number in range(10):
        queue.put(number)
    added = threading.Event()
    producer = threading.Thread(target=lambda: (queue.put("next"), added.set()))
    producer.start()
    assert queue.take(3) == [0, 1, 2]  # 7 left: 3 free places, less than the room of 4
    assert not added.wait(0.3)
    assert queue.take(1) == [3]  # 6 left: room for 4
    assert added.wait(5)
    producer.join(5)
    assert queue.take(20) == [4, 5, 6, 7, 8, 9, "next"]


def test_wait_done_returns_once_every_item_put_is_marked_done() -> None:
    queue = BatchQueue(10)
    for number in range(5):
        queue.put(number)
    assert queue.wait_done(0.05) is False
    handled: List[int] = []

    def consume() -> None:
        while len(handled) < 5:
            batch = queue.take(2, timeout=5)
            handled.extend(batch)
            queue.done()

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert queue.wait_done(10) is True
    consumer.join(5)
    assert handled == [0, 1, 2, 3, 4] and queue.wait_done(0) is True


def test_many_producers_and_one_consumer_lose_and_repeat_nothing() -> None:
    queue = BatchQueue(50, room=16)
    producers = [
        threading.Thread(target=lambda start=start: [queue.put((start, number)) for number in range(2000)])
        for start in range(4)
    ]
    received: List[tuple] = []

    def consume() -> None:
        while len(received) < 8000:
            batch = queue.take(32, timeout=10)
            assert batch, "the consumer starved"
            received.extend(batch)
            queue.done()

    consumer = threading.Thread(target=consume)
    consumer.start()
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join(30)
    consumer.join(30)
    assert sorted(received) == sorted((start, number) for start in range(4) for number in range(2000))
    for start in range(4):  # each producer's items stay in its order
        own = [number for origin, number in received if origin == start]
        assert own == list(range(2000))


def test_wait_done_counts_an_item_the_consumer_holds_but_has_not_handled() -> None:
    queue = BatchQueue(10)
    queue.put("held")
    assert queue.take(5) == ["held"]
    assert queue.qsize() == 0
    assert queue.wait_done(0.05) is False  # taken, not yet handled
    finished = threading.Event()
    waiter = threading.Thread(target=lambda: queue.wait_done(10) and finished.set())
    waiter.start()
    time.sleep(0.05)
    assert not finished.is_set()
    queue.done()  # the first marker was taken with nothing: take it now
    assert queue.take(5, timeout=0.2) == []
    assert finished.wait(5)
    waiter.join(5)
    assert queue.wait_done(0) is True


def test_a_consumer_asleep_on_an_empty_queue_wakes_for_each_new_burst() -> None:
    queue = BatchQueue(100)
    received: List[int] = []

    def consume() -> None:
        while len(received) < 30:
            batch = queue.take(100, timeout=10)
            received.extend(batch)
            queue.done()

    consumer = threading.Thread(target=consume)
    consumer.start()
    for burst in range(3):
        time.sleep(0.05)  # the consumer is asleep again
        for number in range(10):
            queue.put(burst * 10 + number)
        assert queue.wait_done(10) is True
    consumer.join(10)
    assert received == list(range(30))


def test_a_flush_marker_amid_items_is_in_no_batch_and_done_with_the_batch_it_came_in() -> None:
    queue = BatchQueue(100)
    queue.put("before")
    waiter_done = threading.Event()
    waiter = threading.Thread(target=lambda: queue.wait_done(10) and waiter_done.set())
    waiter.start()
    deadline = time.monotonic() + 5
    while queue.qsize() < 2 and time.monotonic() < deadline:  # the waiter's marker is in
        time.sleep(0.01)
    queue.put("after")
    assert queue.take(10, timeout=0) == ["before", "after"]
    assert not waiter_done.wait(0.05)  # taken, not yet handled
    queue.done()
    assert waiter_done.wait(5)
    waiter.join(5)
    queue.put("later")
    assert queue.take(10, timeout=0) == ["later"]
    queue.done()
    assert queue.wait_done(0) is True
