"""Stage order and selection over the ``needs`` edges of a pipeline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as a list of stage names (first name repeated at the end), or None.

    Examples
    --------
    >>> find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]})
    ['a', 'c', 'b', 'a']
    >>> find_cycle({"a": [], "b": ["a"]}) is None
    True
    """
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for upstream in needs.get(node, ()):
            if state.get(upstream) == 1:
                return stack[stack.index(upstream) :] + [upstream]
            if upstream in needs and state.get(upstream) is None:
                found = visit(upstream)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in needs:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Stages in an order where each comes after what it needs; ties keep declaration order.

    >>> topological_order({"report": ["gold"], "gold": ["a", "b"], "a": [], "b": []})
    ['a', 'b', 'gold', 'report']
    """
    order: list[str] = []
    placed: set[str] = set()
    remaining = list(needs)
    while remaining:
        for node in remaining:
            if all(up in placed or up not in needs for up in needs[node]):
                order.append(node)
                placed.add(node)
                remaining.remove(node)
                break
        else:
            raise ValueError(f"cycle among {remaining}")
    return order


def downstream_of(needs: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` and every stage that (transitively) needs one of them.

    >>> sorted(downstream_of({"a": [], "b": ["a"], "c": ["b"], "d": []}, ["b"]))
    ['b', 'c']
    """
    result = set(roots)
    changed = True
    while changed:
        changed = False
        for node, ups in needs.items():
            if node not in result and any(up in result for up in ups):
                result.add(node)
                changed = True
    return result


def upstream_of(needs: Mapping[str, Sequence[str]], node: str) -> set[str]:
    """Every stage ``node`` transitively needs (not ``node`` itself).

    >>> sorted(upstream_of({"a": [], "b": ["a"], "c": ["b"]}, "c"))
    ['a', 'b']
    """
    result: set[str] = set()
    todo = list(needs.get(node, ()))
    while todo:
        up = todo.pop()
        if up not in result:
            result.add(up)
            todo.extend(needs.get(up, ()))
    return result


def select(
    needs: Mapping[str, Sequence[str]],
    stages: Sequence[str] = (),
    from_stages: Sequence[str] = (),
) -> list[str]:
    """The stages to run, in topological order.

    ``stages`` picks exactly those; ``from_stages`` picks those and everything
    downstream; both empty picks all.

    >>> g = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"]}
    >>> select(g), select(g, stages=["b"]), select(g, from_stages=["b"])
    (['a', 'b', 'c', 'd'], ['b'], ['b', 'c'])
    """
    order = topological_order(needs)
    if not stages and not from_stages:
        return order
    chosen = set(stages) | downstream_of(needs, from_stages)
    return [s for s in order if s in chosen]
