"""The distinct member models of a guard and which ones each class
consults, shared by the research scripts here."""


def distinct_members(guard, keep=lambda model, index: model):
    """(members, ranks): members[k] = keep(model, k) for each distinct member
    model (robust members are shared by the classes: one entry each), and
    ranks[c][r] the index in members of class c's r-th consulted member."""
    info = guard.info
    members, ranks, seen = [], [], {}
    for c in range(info.classes):
        row = []
        for r in range(info.members):
            seed = guard.member(c, r).seed
            if seed not in seen:
                seen[seed] = len(members)
                members.append(keep(guard.member_model(c, r), len(members)))
            row.append(seen[seed])
        ranks.append(row)
    return members, ranks
