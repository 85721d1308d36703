"""Summarises a bench's rounds: one JSON object per line on stdin, each
{"threads": T, "ours": {...}, "peer": {...}} as the bench scripts write
them, and the keys to compare as arguments (KEY:higher for a throughput,
KEY:lower for a time).  Prints, per thread count and key, both sides'
medians over the rounds, the ratio of the medians (>1: libdiffguard ahead)
and the range of the per-round ratios; then each side at its best thread
count.  Rounds run the two sides alternately, so that a disturbance of the
shared machine falls on both."""
import json
import statistics
import sys

rounds = [json.loads(line) for line in sys.stdin if line.strip()]
keys = [arg.split(':') for arg in sys.argv[1:]]
threads = sorted({r['threads'] for r in rounds})
peer_name = rounds[0]['peer'].get('impl', 'peer')


def ratio(ours, peer, better):
    return ours / peer if better == 'higher' else peer / ours


best = {}
for key, better in keys:
    pick = max if better == 'higher' else min
    for t in threads:
        mine = [r for r in rounds if r['threads'] == t]
        o = statistics.median(r['ours'][key] for r in mine)
        p = statistics.median(r['peer'][key] for r in mine)
        each = [ratio(r['ours'][key], r['peer'][key], better) for r in mine]
        print(f"threads {t}: {key:22s} libdiffguard {o:9.3f}  {peer_name} "
              f"{p:9.3f}  ratio {ratio(o, p, better):5.2f}x "
              f"(rounds: {min(each):.2f}-{max(each):.2f}x, {len(mine)})")
        for side, value in (('ours', o), ('peer', p)):
            if (key, side) not in best or pick(value, best[key, side][0]) == value:
                best[key, side] = (value, t)
    (o, to), (p, tp) = best[key, 'ours'], best[key, 'peer']
    print(f"best threads: {key:22s} libdiffguard {o:9.3f} ({to})  {peer_name} "
          f"{p:9.3f} ({tp})  ratio {ratio(o, p, better):5.2f}x")
